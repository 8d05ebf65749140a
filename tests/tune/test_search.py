"""Searches that must do the thing: beat a poor default, prune most epochs, find a small model on the Pareto front."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lamina.config import parse_run_spec
from lamina.files import read_json
from lamina.trainer import train
from lamina.tune import tune

POOR_IRIS = {
    "name": "iris-poor",
    "data": {"dataset": "iris", "split": {"val": 0.25, "test": 0.25}},
    "model": {"arch": "mlp", "hidden": [16]},
    "train": {"epochs": 12, "batch_size": 16, "tensorboard": False, "optimizer": {"name": "sgd", "lr": 1e-4}},
}
LR_SPACE = {
    "train.optimizer.name": {"choices": ["sgd", "adam"]},
    "train.optimizer.lr": {"low": 1e-5, "high": 0.3, "log": True},
    "model.hidden": {"choices": [[4], [16], [32, 16]]},
}


def study(tmp_path: Path, name: str, **tune_fields) -> dict:
    config = {**POOR_IRIS, "name": name, "runs_dir": str(tmp_path / "runs"),
              "tune": {"params": LR_SPACE, "startup_trials": 5, **tune_fields}}
    return tune(config, out=tmp_path / name)


@pytest.fixture(scope="module")
def pruning_pair(tmp_path_factory) -> tuple[dict, dict]:
    """The same random-sampler study (same seed, so the same configs) without and with a median pruner."""
    tmp = tmp_path_factory.mktemp("prune")
    plain = study(tmp, "plain", sampler="random", trials=20)
    pruned = study(tmp, "pruned", sampler="random", trials=20, pruner="median", warmup_epochs=2)
    return plain, pruned


@pytest.mark.slow
def test_pruning_saves_at_least_40_percent_of_epochs_and_keeps_the_best(pruning_pair) -> None:
    plain, pruned = pruning_pair
    assert plain["epochs_total"] == 20 * 12 and plain["states"] == {"complete": 20}
    assert pruned["states"].get("pruned", 0) >= 5
    assert pruned["epochs_total"] <= 0.6 * plain["epochs_total"], (pruned["epochs_total"], plain["epochs_total"])
    assert pruned["best"][0]["values"][0] >= plain["best"][0]["values"][0] - 0.01


@pytest.mark.slow
def test_tpe_best_config_beats_the_poor_default_and_trains_as_written(tmp_path: Path) -> None:
    default = train({**POOR_IRIS, "runs_dir": str(tmp_path / "runs")}, progress="none")
    default_acc = read_json(default.folder.summary)["test"]["accuracy"]
    report = study(tmp_path, "tpe", sampler="tpe", trials=15)
    assert report["states"] == {"complete": 15}
    assert {Path(p).name for p in report["figures"]} == {"history.png", "importance.png", "parallel.png"}
    best_spec = parse_run_spec(yaml.safe_load(Path(report["best_config"]).read_text()))
    assert best_spec.tune is None
    rerun = train(best_spec, progress="none")
    rerun_acc = read_json(rerun.folder.summary)["test"]["accuracy"]
    assert default_acc < 0.5
    assert rerun_acc >= default_acc + 0.3, (rerun_acc, default_acc)

