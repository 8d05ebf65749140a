"""The labs' shared helpers: generated CSVs read back as written, run configs are valid, curves are drawn."""

from __future__ import annotations

import csv
from pathlib import Path

from lamina.config import parse_run_spec
from lamina.labs.kit import LabSettings, plot_curves, run_spec, write_csv


def test_write_csv_round_trips_rows_with_commas_and_leading_zeros(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data" / "pairs.csv", ["source", "target"], [["0123", "3210"], ["a, b", "c"]])
    with path.open(newline="") as handle:
        assert list(csv.reader(handle)) == [["source", "target"], ["0123", "3210"], ["a, b", "c"]]
    assert [p.name for p in path.parent.iterdir()] == ["pairs.csv"]  # the atomic write left no temp file behind


def test_run_spec_puts_runs_beside_the_lab_and_lets_the_lab_override_the_defaults(tmp_path: Path) -> None:
    settings = LabSettings(out=tmp_path / "memory", seed=3)
    spec = run_spec(settings, "memory-rnn-5", data={"dataset": "digits"}, model={"arch": "mlp"},
                    train={"epochs": 2, "batch_size": 64})
    assert spec["runs_dir"] == str(tmp_path / "memory" / "runs") and spec["seed"] == 3
    assert spec["train"]["batch_size"] == 64 and spec["train"]["epochs"] == 2
    assert spec["train"]["tensorboard"] is False and spec["train"]["diagnose"] is False
    assert parse_run_spec(spec).train.early_stopping is None  # a valid config, every model with the same budget


def test_plot_curves_writes_a_png(tmp_path: Path) -> None:
    path = plot_curves(tmp_path / "curves.png", [1, 2, 3], {"a": [0.9, 0.5, 0.2], "b": [0.9, 0.9, 0.8]},
                       "x", "accuracy", "two curves", chance=0.1)
    assert path.read_bytes().startswith(b"\x89PNG")
