"""The study report: a Pareto front lists each configuration once and says how many configurations were unique."""

from __future__ import annotations

from pathlib import Path

import optuna

from lamina.tune.report import write_report


def _trial(width: int, accuracy: float):
    """A finished trial of an accuracy-vs-size search that trained an MLP of one hidden ``width``."""
    config = {"data": {"dataset": "iris"}, "model": {"layers": [{"dense": width}, "relu", {"dense": 3}]}}
    size = 4 * width + width + 3 * width + 3
    return optuna.trial.create_trial(
        params={"width": width}, distributions={"width": optuna.distributions.CategoricalDistribution([8, 16, 64])},
        values=[accuracy, size], user_attrs={"config": config, "params": size, "epochs": 5, "test": {}})


def test_the_pareto_front_lists_each_configuration_once_and_counts_the_unique_ones(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    # a sampler that draws 16 three times and 64 twice: the repeats reuse the first result (same values)
    for width, accuracy in [(16, 0.93), (64, 0.97), (16, 0.93), (8, 0.80), (16, 0.93), (64, 0.97)]:
        study.add_trial(_trial(width, accuracy))
    report = write_report(study, tmp_path, ["val_accuracy", "params"])
    front = report["pareto_front"]
    assert [t["number"] for t in front] == [1, 0, 3], front  # before: [1, 5, 0, 2, 4, 3]
    assert sorted(p.stem for p in (tmp_path / "pareto").glob("*.yaml")) == ["trial-0", "trial-1", "trial-3"]
    assert report["trials"] == 6 and report["unique_configurations"] == 3
