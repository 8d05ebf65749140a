"""Forecast errors in the series' units beside persistence and seasonal-naive; a finding when a baseline wins."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

from lamina.cli import app
from lamina.data.preprocess import InputPrep
from lamina.data.series import forecast_errors

runner = CliRunner()


def test_errors_are_in_each_series_units() -> None:
    inputs = InputPrep("series", [4, 1], "reject", feature_names=["a", "b"], offset=[0.0, 0.0], divisor=[1.0, 10.0])
    x = torch.zeros(4, 4, 1)
    x[:, -1, 0] = 1.0  # persistence predicts 1 everywhere
    y = torch.full((4, 2), 2.0)
    errors = forecast_errors(x, y, torch.full((4, 2), 1.5), inputs, None)
    assert errors == {"model_mae": 0.5 * (1 + 10) / 2, "persistence_mae": 1.0 * (1 + 10) / 2}


def test_forecast_example_shows_model_and_both_baselines(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "examples/forecast_csv.yaml", "--progress", "none",
                                 "--set", "train.epochs=2", "--set", f"runs_dir={tmp_path}"])
    assert result.exit_code == 0, result.output
    forecast = json.loads((tmp_path / "forecast-lstm" / "summary.json").read_text())["forecast"]
    shown = " ".join(result.output.split())
    assert "test MAE in the series' units:" in shown
    for name in ("model", "persistence", "seasonal-naive"):
        assert f"{name} {forecast[name.replace('-', '_') + '_mae']:.4g}" in shown


def test_finding_fires_when_seasonal_naive_wins(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pattern = rng.normal(0, 1, 12)
    values = np.tile(pattern, 40) + rng.normal(0, 0.05, 480)  # a pure repeating pattern with a little noise
    data = tmp_path / "repeat.csv"
    data.write_text("value\n" + "\n".join(f"{v:.4f}" for v in values) + "\n")
    config = tmp_path / "repeat.yaml"
    config.write_text(f"name: repeat\nruns_dir: {tmp_path}\ndata:\n  path: {data}\n"
                      "  series: {window: 24, horizon: 6, season: 12}\n"
                      "model: {arch: forecaster, cell: gru, units: 8}\ntrain: {epochs: 1, tensorboard: false}\n")
    result = runner.invoke(app, ["train", str(config), "--progress", "none"])
    assert result.exit_code == 0, result.output
    diagnosis = json.loads((tmp_path / "repeat" / "diagnosis.json").read_text())
    finding = next(f for f in diagnosis["findings"] if f["name"] == "forecast_beaten_by_baseline")
    assert "seasonal-naive" in finding["message"] and "linear_forecaster" in finding["remedy"]
