"""A task that was not learned is reported with its cause: dead ReLUs, or a budget too short to catch up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from lamina.continual.health import dead_layers, learned
from lamina.continual.sequence import run_continual
from lamina.continual.tasks import Task
from lamina.data.prepare import Split


def _config(tmp_path: Path, lr: float, batch_size: int) -> dict:
    return {"name": "h", "runs_dir": str(tmp_path), "data": {"dataset": "digits", "view": "flat"},
            "model": {"arch": "mlp", "hidden": [256, 128]},
            "train": {"epochs": 10, "batch_size": batch_size, "optimizer": {"lr": lr}, "tensorboard": False},
            "continual": {"scenario": "class_split", "tasks": 5}}


def test_dead_units_named_when_a_large_rate_kills_a_layer(tmp_path: Path) -> None:
    result = run_continual(_config(tmp_path, 0.01, 64), "naive", progress="none")
    unlearned = [j for j in range(5) if result.matrix[j][j] < 0.75]
    assert unlearned, result.matrix
    assert any("never fire" in w and "layers.3" in w and "train.optimizer.lr" in w for w in result.warnings)


def test_short_budget_named_when_new_classes_start_far_behind(tmp_path: Path) -> None:
    result = run_continual(_config(tmp_path, 0.002, 64), "replay", progress="none")
    assert any("still falling" in w and "logits behind" in w and "train.epochs" in w for w in result.warnings)
    assert not any("never fire" in w for w in result.warnings)


def test_dead_layers_and_learned_by_hand() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.copy_(torch.tensor([-1.0, -1.0, -1.0, 1.0]))
    assert dead_layers(model, torch.randn(8, 3), torch.device("cpu")) == []  # 3 of 4 silent: below 90%
    model[0].bias.data[3] = -1.0
    assert dead_layers(model, torch.randn(8, 3), torch.device("cpu")) == [("1", 4, 4)]
    empty = Split(torch.zeros(0, 3), torch.zeros(0), np.zeros(0))
    task = Task("t", [0, 1], empty, empty, empty)
    assert learned(0.75, task) and not learned(0.74, task)
