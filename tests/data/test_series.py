"""Time series CSV data: chronological windows, per-series scaling fitted on train, the seasonal-naive baseline."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from lamina.config import DataSpec
from lamina.data.prepare import prepare_data
from lamina.data.readers import read_csv
from lamina.data.series import latest_windows, seasonal_naive
from lamina.data.synthetic import seasonal_series
from lamina.errors import ConfigError, DataError


def _write(path: Path, values: np.ndarray, names: list[str]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["day", *names])
        writer.writerows([[f"d{i}", *map(str, row)] for i, row in enumerate(values)])
    return path


def test_windows_are_chronological_and_scaled_per_series_on_train(tmp_path: Path) -> None:
    values = np.stack([np.arange(100.0), 1000 + 10 * np.arange(100.0)], axis=1)  # two series, different scales
    path = _write(tmp_path / "s.csv", values, ["a", "b"])
    data = prepare_data(DataSpec(path=str(path), series={"window": 5, "horizon": 2}))
    assert data.input_shape == (5, 1) and data.n_outputs == 2 and data.task == "regression"
    prep = data.preprocessor.inputs
    assert prep.feature_names == ["a", "b"]  # the text column 'day' is not a series
    assert np.allclose(prep.offset, [34.5, 1345.0])  # means of the first 70 steps only
    assert data.train.rows.max() + 2 <= 70 and data.val.rows.min() >= 70 and data.test.rows.min() >= 85
    x, y = data.train.x[0, :, 0], data.train.y[0]
    assert torch.allclose(torch.cat([x, y]).diff(), torch.full((6,), float(1 / np.std(np.arange(70.0)))), atol=1e-5)


def test_latest_windows_forecast_what_follows(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", np.arange(60.0)[:, None], ["v"])
    data = prepare_data(DataSpec(path=str(path), series={"window": 4}))
    recent = latest_windows(read_csv(path), data.preprocessor.inputs)
    expected = (np.arange(56.0, 60.0) - data.preprocessor.inputs.offset[0]) / data.preprocessor.inputs.divisor[0]
    assert recent.shape == (1, 4, 1) and np.allclose(recent[0, :, 0], expected)


def test_seasonal_naive_repeats_the_last_season() -> None:
    x = torch.arange(8.0).reshape(1, 8, 1)  # steps 0..7, season 3: the last season is 5, 6, 7
    assert seasonal_naive(x, 5, 3).tolist() == [[5.0, 6.0, 7.0, 5.0, 6.0]]


def test_series_errors_name_what_is_wrong(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", seasonal_series(30), ["v"])
    with pytest.raises(DataError, match="one window needs data.series.window \\+ horizon = 31"):
        prepare_data(DataSpec(path=str(path), series={"window": 30, "horizon": 1}))
    with pytest.raises(ConfigError, match="data.target does not apply with data.series"):
        prepare_data(DataSpec(path=str(path), target="v", series={"window": 3}))
    with pytest.raises(DataError, match="has no series column .data.series.columns. 'w'"):
        prepare_data(DataSpec(path=str(path), series={"window": 3, "columns": ["w"]}))
    bad = tmp_path / "bad.csv"
    bad.write_text("v\n1\n2\noops\n" + "3\n" * 40)
    with pytest.raises(DataError, match="row 4, series column 'v': expected a number; got 'oops'"):
        prepare_data(DataSpec(path=str(bad), series={"window": 3, "columns": ["v"]}))


def test_forecast_rows_are_in_each_series_units(tmp_path: Path) -> None:
    from lamina.data.series import forecast_rows

    path = _write(tmp_path / "s.csv", np.stack([np.arange(60.0), 100 + np.arange(60.0)], axis=1), ["a", "b"])
    inputs = prepare_data(DataSpec(path=str(path), series={"window": 4, "horizon": 1})).preprocessor.inputs
    rows = forecast_rows([{"t+1": 0.0}, {"t+1": 1.0}], inputs)
    assert rows[0] == {"series": "a", "t+1": pytest.approx(inputs.offset[0])}
    assert rows[1]["series"] == "b" and rows[1]["t+1"] == pytest.approx(inputs.offset[1] + inputs.divisor[1])
