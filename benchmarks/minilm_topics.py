"""The MiniLM backbone through ``lamina train`` against models trained from scratch, 20 labels per topic.

Run it from the repository root (the text extra installed):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/minilm_topics.py --seeds 0,1,2 --models frozen,gru,same

For each seed, 20 texts per topic of examples/data/topics.csv are drawn (``lamina.lm.fewshot.k_shot_split``)
and written as a training CSV, the other 320 as a test CSV. Each model is trained on the 80 texts through
``lamina.trainer.train`` (what ``lamina train`` runs; no validation or test split) and scored on the 320
through ``Run.predict_file`` (what ``lamina predict`` runs):

* frozen: ``model.backbone: {pretrained: minilm}``, a dense head on cached MiniLM features (20 epochs);
* finetune: the same, gradual unfreezing (one block every 2 epochs) with the backbone at 1/100 of the rate;
* same: the same architecture (the MiniLM chain and head, ``data.text.tokenizer: minilm``) from random
  weights, 15 epochs at 3e-4 (costs minutes per seed on a CPU);
* gru: the text_csv example's GRU on word tokens, from scratch (40 epochs).

Prints one line per model and seed: test accuracy, training seconds.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from lamina.lm.fewshot import accuracy, k_shot_split
from lamina.nn.minilm import packaged_model_dir, pretrained_chain, read_bert_config
from lamina.report.background import wait_for_reports
from lamina.trainer import train

DATA = Path(__file__).resolve().parents[1] / "examples" / "data" / "topics.csv"


def models() -> dict[str, tuple[dict, dict, dict]]:
    """Name -> (model section, train overrides, data.text) of each contender."""
    chain = pretrained_chain(read_bert_config(packaged_model_dir()))
    text = {"column": "text"}
    return {
        "frozen": ({"backbone": {"pretrained": "minilm"}}, {"epochs": 20, "optimizer": {"lr": 0.03}}, text),
        "finetune": ({"backbone": {"pretrained": "minilm", "unfreeze_every": 2}},
                     {"epochs": 8, "optimizer": {"lr": 0.003}, "lr_groups": [{"layers": "backbone", "scale": 0.01}]},
                     text),
        "same": ({"layers": chain + [{"dense": 4}]}, {"epochs": 15, "optimizer": {"lr": 0.0003}},
                 {"column": "text", "tokenizer": "minilm"}),
        "gru": ({"arch": "sequence", "cell": "gru", "embed_dim": 32, "units": 32},
                {"epochs": 40, "optimizer": {"lr": 0.003}}, text),
    }


def write(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A CSV of (text, topic) rows."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "topic"])
        writer.writerows(rows)
    return path


def main() -> None:
    """Train and score every chosen model for every seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default="frozen,gru,same")
    args = parser.parse_args()
    with DATA.open(newline="", encoding="utf-8") as handle:
        pairs = [(row["text"], row["topic"]) for row in csv.DictReader(handle)]
    table = models()
    with TemporaryDirectory() as folder:
        for seed in [int(s) for s in args.seeds.split(",")]:
            train_rows, test_rows = k_shot_split(pairs, 20, seed=seed)
            root = Path(folder) / f"seed{seed}"
            root.mkdir()
            train_csv, test_csv = write(root / "train.csv", train_rows), write(root / "test.csv", test_rows)
            for name in args.models.split(","):
                model, overrides, text = table[name]
                spec = {"name": name, "seed": seed, "runs_dir": str(root),
                        "data": {"path": str(train_csv), "target": "topic", "text": text,
                                 "split": {"val": 0.0, "test": 0.0}},
                        "model": model, "train": {"batch_size": 16, "tensorboard": False, **overrides}}
                start = time.perf_counter()
                run = train(spec, progress="none")
                seconds = time.perf_counter() - start
                wait_for_reports()  # the run's figures, before the temporary folder goes
                got = [row["topic"] for row in run.predict_file(test_csv)]
                print(f"{name:9s} seed {seed}: accuracy {accuracy(got, [y for _, y in test_rows]):.3f} "
                      f"({len(test_rows)} test texts), trained in {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
