"""Continual learning: metrics by hand, and the must-show forgetting outcomes on digits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lamina.continual.sequence import average_accuracy, backward_transfer, run_continual
from lamina.errors import ConfigError


def test_metrics_by_hand() -> None:
    matrix = [[0.9, 0.0], [0.5, 0.8]]
    assert average_accuracy(matrix) == pytest.approx(0.65)
    assert backward_transfer(matrix) == pytest.approx(-0.4)


def _config(tmp_path: Path, scenario: str, seed: int = 0) -> dict:
    return {"name": "cl", "seed": seed, "runs_dir": str(tmp_path), "data": {"dataset": "digits", "view": "flat"},
            "model": {"arch": "mlp", "hidden": [256, 128]},
            "train": {"epochs": 10, "batch_size": 32, "optimizer": {"lr": 0.003}, "tensorboard": False},
            "continual": {"scenario": scenario, "tasks": 5}}


def test_class_split_replay_beats_naive(tmp_path: Path) -> None:
    naive = run_continual(_config(tmp_path, "class_split"), "naive", progress="none")
    replay = run_continual(_config(tmp_path, "class_split"), "replay", progress="none", buffer_size=200)
    # every task was learned right after its training, so the low naive score is forgetting, not failure to learn
    assert naive.warnings == [] and replay.warnings == []
    assert naive.average_accuracy <= 0.40
    assert replay.average_accuracy >= 0.70
    assert (naive.folder / "continual.json").is_file() and (naive.folder / "figures" / "continual-naive.png").is_file()


@pytest.mark.slow
def test_permuted_ewc_beats_naive(tmp_path: Path) -> None:
    """Averaged over two seeds (one run's margin varies by a few points between CPUs); LwF forgets less too."""
    ewc_margins, lwf_margins = [], []
    for seed in (0, 1):
        naive = run_continual(_config(tmp_path, "permuted", seed), "naive", progress="none").average_accuracy
        ewc = run_continual(_config(tmp_path, "permuted", seed), "ewc", progress="none", ewc_lambda=1000)
        lwf = run_continual(_config(tmp_path, "permuted", seed), "lwf", progress="none")
        ewc_margins.append(ewc.average_accuracy - naive)
        lwf_margins.append(lwf.average_accuracy - naive)
    assert sum(ewc_margins) / 2 >= 0.10, ewc_margins
    assert sum(lwf_margins) / 2 >= 0.05, lwf_margins


def test_bad_strategy_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="continual.strategy"):
        run_continual(_config(tmp_path, "class_split"), "ewcc", progress="none")
