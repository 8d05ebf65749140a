"""Training on a CUDA device, in each precision: the model learns, and the run folder a GPU wrote loads on the
GPU and on the CPU and predicts the same classes on both. Skipped where torch sees no CUDA device; ``benchmarks/gpu_check.sh`` runs
these (``pytest -m cuda``) on a GPU machine."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import lamina

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_each_precision_learns_on_cuda_and_the_run_predicts_alike_on_gpu_and_cpu(tmp_path, precision: str) -> None:
    run = lamina.fit({"name": f"cuda-{precision}", "seed": 0, "runs_dir": str(tmp_path),
                      "data": {"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
                      "model": {"arch": "cnn", "channels": [16, 32], "dense": [64]},
                      "train": {"epochs": 8, "device": "cuda", "precision": precision,
                                "optimizer": {"name": "adamw", "lr": 0.003}, "tensorboard": False}}, progress="none")
    summary = json.loads((run.folder.root / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= 0.9
    pixels = load_digits().data[:200].reshape(200, 1, 8, 8)
    label = run.preprocessor.target.names[0]
    on_gpu = [row[label] for row in lamina.load_run(run.folder.root, device="cuda").predict(pixels)]
    on_cpu = [row[label] for row in lamina.load_run(run.folder.root, device="cpu").predict(pixels)]
    assert np.mean(np.array(on_gpu) == np.array(on_cpu)) >= 0.98
