"""Architecture search on digits: a Pareto front of accuracy against parameters that holds a small, near-best model."""

from __future__ import annotations

from pathlib import Path

import yaml

from lamina.config import parse_run_spec
from lamina.tune import tune

NAS_DIGITS = {
    "name": "digits-nas",
    "data": {"dataset": "digits", "split": {"val": 0.25, "test": 0.2}},
    "model": {"arch": "mlp"},
    "train": {"epochs": 20, "batch_size": 64, "tensorboard": False, "optimizer": {"name": "adam", "lr": 0.003}},
    "tune": {"trials": 12, "objectives": ["metric", "params"],
             "nas": {"kind": "mlp", "depth": [1, 2], "width": [16, 32, 64, 128, 256, 512], "blocks": ["plain"],
                     "activation": ["relu"], "batchnorm": [False]}},
}


def test_the_pareto_front_holds_a_model_within_a_point_of_the_best_at_under_half_its_size(tmp_path: Path) -> None:
    report = tune({**NAS_DIGITS, "runs_dir": str(tmp_path / "runs")}, out=tmp_path / "nas")
    assert report["objectives"] == ["val_accuracy", "params"] and report["directions"] == ["maximize", "minimize"]
    front = report["pareto_front"]
    finished = [r for r in report["rows"] if r["state"] == "complete"]
    best = max(finished, key=lambda r: r["values"][0])
    assert front[0]["values"][0] == best["values"][0], "the most accurate trial is on the front"
    assert all(f["model_params"] == f["values"][1] for f in front)
    small = [f for f in front if f["values"][0] >= best["values"][0] - 0.01 and f["values"][1] < 0.5 * best["values"][1]]
    assert small, [(f["values"], f["test"]) for f in front]
    assert len(finished) >= 8 and len({r["model_params"] for r in finished}) >= 5, "the search tried varied sizes"

    assert Path(tmp_path / "nas" / "figures" / "pareto.png").stat().st_size > 10_000
    saved = sorted((tmp_path / "nas" / "pareto").glob("trial-*.yaml"))
    assert [p.stem for p in saved] == sorted(f"trial-{f['number']}" for f in front)
    layers = parse_run_spec(yaml.safe_load(saved[0].read_text())).model.layers
    assert layers and layers[-1] == {"dense": 10}
