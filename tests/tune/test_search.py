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
    assert [r["params"] for r in pruned["rows"]] == [r["params"] for r in plain["rows"]], "a fair pair: the same configs"
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



def test_retraining_best_yaml_restores_the_trials_epoch_and_reproduces_its_scores(tmp_path: Path) -> None:
    """Trials keep the epoch with the best searched metric; best.yaml monitors that metric, so train() restores it too.

    On this digits run val_loss bottoms out at a later epoch than val_accuracy peaks, so restoring by
    val_loss (train's default) would miss the trial's score by more than the margins below.
    """
    config = {
        "name": "repro", "runs_dir": str(tmp_path / "runs"),
        "data": {"dataset": "digits", "split": {"val": 0.2, "test": 0.2}},
        "model": {"arch": "mlp", "hidden": [32]},
        "train": {"epochs": 8, "batch_size": 64, "tensorboard": False, "optimizer": {"name": "sgd", "lr": 1e-4}},
        "tune": {"trials": 3, "params": {"train.optimizer.name": {"choices": ["sgd", "adam"]},
                                         "train.optimizer.lr": {"low": 1e-4, "high": 0.3, "log": True},
                                         "model.dropout": {"low": 0.0, "high": 0.5}}},
    }
    report = tune(config, out=tmp_path / "tune")
    trial = report["best"][0]
    best_spec = parse_run_spec(yaml.safe_load(Path(report["best_config"]).read_text()))
    assert best_spec.train.monitor == "val_accuracy"
    summary = read_json(train(best_spec, progress="none").folder.summary)
    assert summary["monitor"] == "val_accuracy" and summary["best_epoch"] < summary["epochs_run"]
    assert summary["best_value"] == pytest.approx(trial["values"][0], abs=1e-3)
    assert summary["test"]["accuracy"] == pytest.approx(trial["test"]["accuracy"], abs=0.004)


def test_a_trial_that_repeats_a_finished_configuration_reuses_its_result_untrained(tmp_path: Path) -> None:
    config = {**POOR_IRIS, "name": "twins", "runs_dir": str(tmp_path / "runs"), "train": {**POOR_IRIS["train"], "epochs": 3},
              "tune": {"sampler": "random", "trials": 6, "params": {"model.hidden": {"choices": [[4], [16]]}}}}
    rows = tune(config, out=tmp_path / "twins")["rows"]
    trained = {str(r["params"]): r for r in rows if r["epochs"] == 3}
    reused = [r for r in rows if r["epochs"] == 0]
    assert len(trained) == 2 and len(reused) == 4 and all(r["state"] == "complete" for r in rows)
    for r in reused:
        twin = trained[str(r["params"])]
        assert r["values"] == twin["values"] and r["test"] == twin["test"]
        assert r["note"] == f"same configuration as trial {twin['number']}; its result reused"
