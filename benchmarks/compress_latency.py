"""Structured pruning's CPU latency cut, side by side in one run.

Trains the digits CNN of ``examples/digits_cnn.yaml`` (channels 32, 64;
dense 128) briefly, prunes half of every conv's filters and hidden layer's
neurons with ``lamina compress --prune 0.5``, fine-tunes, and prints the
comparison table: parameters, file size, median latency at batch 1 and 256,
and test accuracy, with the batch-256 latency cut.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compress_latency.py
"""

from __future__ import annotations

import tempfile

import torch

import lamina
from lamina.compress.measure import latency
from lamina.compress.run import CompressOptions, compress
from lamina.files import read_json
from lamina.runs import load_run


def main() -> None:
    """Train, prune, and print both models' figures and the latency ratio."""
    torch.set_num_threads(1)
    root = tempfile.mkdtemp(prefix="lamina-compress-bench-")
    run = lamina.fit({"name": "digits-cnn", "seed": 0, "runs_dir": root,
                      "data": {"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
                      "model": {"arch": "cnn", "channels": [32, 64], "dense": [128]},
                      "train": {"epochs": 10, "optimizer": {"name": "adamw", "lr": 0.003}, "tensorboard": False}},
                     progress="none")
    out = compress(run.folder.root, CompressOptions(prune=0.5, finetune_epochs=6, progress="none", name="pruned"))
    rows = read_json(out / "compression.json")["comparison"]
    pruned = load_run(out)
    shape = tuple(run.preprocessor.inputs.shape)
    # re-measure both, interleaved, so machine load hits them alike
    b256 = {"original": [], "compressed": []}
    for _ in range(5):
        b256["original"].append(latency(run.model, shape, 256, repeats=20))
        b256["compressed"].append(latency(pruned.model, shape, 256, repeats=20))
    print(f"{'model':11} {'params':>8} {'file KiB':>9} {'b=1 ms':>8} {'b=256 ms':>9} {'accuracy':>9}")
    for row in rows:
        median = sorted(b256[row["model"]])[2] * 1e3
        print(f"{row['model']:11} {row['params']:8d} {row['file_bytes'] / 1024:9.1f} {row['latency_b1_ms']:8.3f} "
              f"{median:9.3f} {row['score']:9.4f}")
    cut = 1 - sorted(b256["compressed"])[2] / sorted(b256["original"])[2]
    print(f"batch-256 latency cut: {cut:.1%}; accuracy change: {(rows[1]['score'] - rows[0]['score']) * 100:+.2f} points")


if __name__ == "__main__":
    main()
