"""Must-show: 10 labels per topic; a head on frozen MiniLM features beats lamina's from-scratch Transformer by 20+ points.

Both learn from the same 40 labelled texts and are scored on the same held-out texts of the 4-topic set. The
scratch model is lamina's ``sequence`` preset with ``cell: transformer``, trained through ``lamina.trainer.train``
on a CSV of the 40 examples; the MiniLM classifier is ``lamina.lm.transfer.fit_text_classifier`` (Python API).
"""

from __future__ import annotations

import csv
from pathlib import Path

from lamina.lm.fewshot import accuracy, k_shot_split
from lamina.lm.textsets import TOPICS
from lamina.lm.transfer import fit_text_classifier
from lamina.trainer import train


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "topic"])
        writer.writerows(rows)
    return path


def test_minilm_head_beats_a_scratch_transformer_by_20_points(tmp_path: Path) -> None:
    train_pairs, test_pairs = k_shot_split(TOPICS, 10, seed=3)
    assert len(train_pairs) == 40 and len({y for _, y in train_pairs}) == 4
    texts, truth = [t for t, _ in test_pairs], [y for _, y in test_pairs]

    head = fit_text_classifier([t for t, _ in train_pairs], [y for _, y in train_pairs], epochs=40)
    transfer = accuracy(head.predict(texts), truth)

    spec = {"name": "topics-scratch", "seed": 0, "runs_dir": str(tmp_path),
            "data": {"path": str(_write(tmp_path / "train.csv", train_pairs)), "target": "topic",
                     "text": {"column": "text"}, "split": {"val": 0.0, "test": 0.0}},
            "model": {"arch": "sequence", "cell": "transformer", "units": 32, "depth": 2, "dropout": 0.1},
            "train": {"epochs": 40, "batch_size": 8, "optimizer": {"lr": 0.003}, "tensorboard": False}}
    run = train(spec, progress="none")
    rows = run.predict_file(_write(tmp_path / "test.csv", test_pairs))
    scratch = accuracy([r["topic"] for r in rows], truth)

    print(f"text transfer, 10 labels/class, {len(truth)} test texts: MiniLM head {transfer:.3f}, "
          f"scratch transformer {scratch:.3f}")  # the figures, with pytest -s
    assert transfer >= 0.8
    assert transfer - scratch >= 0.20
