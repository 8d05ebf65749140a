"""Time series from CSV columns, windowed for forecasting with per-series scaling fitted on train.

Each series column is cut into windows: ``window`` steps of input, shaped (window, 1), followed by
``horizon`` steps to predict. Time is split chronologically (train, then validation, then test), a
window belonging to the span its forecast falls in; windows whose forecast straddles two spans are
dropped so no target is seen in two splits. Every series is standardized by the mean and standard
deviation of its own training span, so one model serves series of different levels and scales,
and the loss works in those standardized units. Test errors are also reported in each series' own
units beside two baselines scored on the same windows: persistence (the last value repeated) and
seasonal-naive (the last season repeated), see :func:`forecast_errors`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lamina.config import DataSpec, SeriesSpec
from lamina.data.preprocess import InputPrep, Preprocessor, TargetPrep
from lamina.data.readers import Table, is_missing, parse_float, read_csv
from lamina.errors import ConfigError, DataError


def prepare_series(spec: DataSpec, fitted: Preprocessor | None = None):
    """Windows of the CSV's series split chronologically into train/val/test (a ``Prepared``)."""
    from lamina.data.prepare import Prepared, Split

    s = spec.series
    if spec.target is not None:
        raise ConfigError("data.target does not apply with data.series: each series column is both input and "
                          "target; list the columns in data.series.columns")
    table = read_csv(Path(spec.path))
    names = fitted.inputs.feature_names if fitted is not None else series_columns(table, s, spec.drop)
    values = series_values(table, names)  # (T, S)
    steps = len(values)
    train_end = int(steps * (1 - spec.split.val - spec.split.test))
    val_end = int(steps * (1 - spec.split.test))
    if train_end < s.window + s.horizon:
        raise DataError(f"{table.source} has {steps} time steps, so the training span holds {train_end}; "
                        f"one window needs data.series.window + horizon = {s.window + s.horizon}")
    if s.season is not None and s.season > s.window:
        raise ConfigError(f"data.series.season must be at most data.series.window ({s.window}); got {s.season}")
    prep = fitted or _fit(values[:train_end], names, s)
    scaled = (values - np.asarray(prep.inputs.offset)) / np.asarray(prep.inputs.divisor)  # (T, S)
    spans = {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, steps)}
    splits = {}
    for part, (low, high) in spans.items():
        x, y, rows = windows(scaled, s.window, s.horizon, s.stride, low, high)
        splits[part] = Split(torch.from_numpy(x), torch.from_numpy(y), rows)
    return Prepared(splits["train"], splits["val"], splits["test"], prep, f"{table.source} (series {', '.join(names)})")


def series_columns(table: Table, s: SeriesSpec, drop: list[str]) -> list[str]:
    """The series to model: the listed columns, or every all-numeric column not dropped."""
    if s.columns is not None:
        for name in s.columns:
            table.column(name, "series column (data.series.columns)")
        return list(s.columns)
    found = [name for name, values in table.columns.items()
             if name not in drop and all(parse_float(v) is not None for v in values)]
    if not found:
        raise DataError(f"{table.source} has no numeric column to forecast; columns: {', '.join(table.columns)}")
    return found


def series_values(table: Table, names: list[str]) -> np.ndarray:
    """The named columns as floats (T, S); a missing or text cell is an error naming its row and column."""
    out = np.empty((table.rows, len(names)))
    for j, name in enumerate(names):
        for i, v in enumerate(table.column(name, "series column")):
            number = None if is_missing(v) else parse_float(v)
            if number is None or not np.isfinite(number):
                raise DataError(f"{table.source} row {i + 2}, series column '{name}': expected a number; got {v!r}")
            out[i, j] = number
    return out


def _fit(train: np.ndarray, names: list[str], s: SeriesSpec) -> Preprocessor:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    inputs = InputPrep("series", [s.window, 1], "reject", feature_names=list(names),
                       offset=mean.tolist(), divisor=std.tolist())
    target = TargetPrep("regression", [f"t+{h + 1}" for h in range(s.horizon)],
                        mean=[0.0] * s.horizon, std=[1.0] * s.horizon)
    return Preprocessor(inputs, target)


def windows(scaled: np.ndarray, window: int, horizon: int, stride: int, low: int, high: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of every series whose forecast lies in time steps [low, high): x (N, W, 1), y (N, H), rows (N,).

    ``rows`` holds each window's first forecast step (its CSV data row, from 0).
    """
    xs, ys, rows = [], [], []
    for j in range(scaled.shape[1]):
        for start in range(max(0, low - window), high - window - horizon + 1, stride):
            xs.append(scaled[start : start + window, j])
            ys.append(scaled[start + window : start + window + horizon, j])
            rows.append(start + window)
    if not xs:
        return np.zeros((0, window, 1), np.float32), np.zeros((0, horizon), np.float32), np.zeros(0, np.int64)
    x = np.stack(xs).astype(np.float32)[:, :, None]  # (N, W, 1)
    return x, np.stack(ys).astype(np.float32), np.asarray(rows, dtype=np.int64)


def latest_windows(table: Table, inputs: InputPrep) -> np.ndarray:
    """The last ``window`` steps of each trained series in ``table``, scaled: (S, W, 1), to forecast what follows."""
    window = inputs.shape[0]
    values = series_values(table, inputs.feature_names)
    if len(values) < window:
        raise DataError(f"{table.source} has {len(values)} rows; forecasting needs the last {window} steps")
    scaled = (values[-window:] - np.asarray(inputs.offset)) / np.asarray(inputs.divisor)  # (W, S)
    return scaled.T[:, :, None].astype(np.float32)


def forecast_rows(rows: list[dict[str, float]], inputs: InputPrep) -> list[dict[str, object]]:
    """Forecasts of :func:`latest_windows` (one row per series, standardized) in each series' own units."""
    return [{"series": name, **{step: value * std + mean for step, value in row.items()}}
            for row, name, mean, std in zip(rows, inputs.feature_names, inputs.offset, inputs.divisor)]


def seasonal_naive(x: torch.Tensor, horizon: int, season: int) -> torch.Tensor:
    """The seasonal-naive forecast: each future step repeats the value one season earlier, (N, W, 1) -> (N, H)."""
    window = x.shape[1]
    steps = [window - season * (h // season + 1) + h for h in range(horizon)]  # the same phase, last season
    return x[:, steps, 0]  # (N, H)


def persistence(x: torch.Tensor, horizon: int) -> torch.Tensor:
    """The persistence forecast: every future step repeats the window's last value, (N, W, 1) -> (N, H)."""
    return x[:, -1, 0:1].expand(-1, horizon)


def forecast_errors(x: torch.Tensor, y: torch.Tensor, outputs: torch.Tensor, inputs: InputPrep,
                    season: int | None) -> dict[str, float]:
    """Mean absolute error of the model and of the baselines in the series' own units (not standardized).

    Windows come series by series in equal numbers (see :func:`windows`), which tells each window's
    series and so its scale. Seasonal-naive needs ``season`` (data.series.season).
    """
    series = len(inputs.feature_names)
    scale = torch.tensor(inputs.divisor, dtype=torch.float64).repeat_interleave(len(y) // series)[:, None]  # (N, 1)
    truth = y.double()

    def mae(forecast: torch.Tensor) -> float:
        return float(((forecast.double() - truth).abs() * scale).mean())

    errors = {"model_mae": mae(outputs), "persistence_mae": mae(persistence(x, y.shape[1]))}
    if season is not None:
        errors["seasonal_naive_mae"] = mae(seasonal_naive(x, y.shape[1], season))
    return errors
