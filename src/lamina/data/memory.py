"""Data handed in from Python: NumPy arrays ``(X, y)``, ``(X_train, y_train, X_val, y_val)``, or a frame.

``lamina.fit(config, data=...)`` trains on data already in memory; the config then names no
``data.path`` or ``data.dataset`` (lamina records ``data.python: arrays|frame`` in config.yaml).
Arrays take the path an NPZ file takes (features named ``x0``, ``x1``, ... so a CSV with those
columns predicts from the run); a pandas DataFrame or pyarrow Table takes the table path (each
column's kind detected, ``data.target`` names the label column). Only the fitted preprocessing is
saved with the run, never the data.

The task of arrays: ``data.task`` when the config sets it; otherwise a floating-point ``y`` (or a
``y`` with several columns) is regression and integer, boolean or string labels are classes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.config import DataSpec
from lamina.data.builtin import ArrayData
from lamina.data.prepare import label_order
from lamina.data.readers import Table
from lamina.errors import ConfigError, DataError


@dataclass
class InMemory:
    """What ``data=`` held, checked: arrays (``x``, ``y``, and how many leading rows train when validation
    arrays were given) or a pyarrow table."""

    kind: str  # "arrays" | "frame"
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    train_rows: int | None = None  # (X_train, y_train, X_val, y_val): rows before this train, the rest validate
    table: Any = None  # a pyarrow Table

    @property
    def name(self) -> str:
        """How the data is named in messages and summary.json."""
        if self.kind == "frame":
            return f"DataFrame ({self.table.num_rows} rows, {self.table.num_columns} columns)"
        return f"arrays X {tuple(self.x.shape)}, y {tuple(self.y.shape)}"


def in_memory(data: Any) -> InMemory:
    """Check what ``lamina.fit(..., data=...)`` was given and hold it as arrays or a pyarrow table.

    Each mistake (wrong shapes, text features, NaN, lengths that differ, an unknown kind of object) is
    one DataError naming the argument (X, y, X_val, y_val or data).
    """
    if _is_frame(data):
        return InMemory("frame", table=_arrow_table(data))
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        x, y = _features(data[0], "X"), _labels(data[1], "y")
        _same_length(x, y, "X", "y")
        if len(data) == 2:
            return InMemory("arrays", x=x, y=y)
        x_val, y_val = _features(data[2], "X_val"), _labels(data[3], "y_val")
        _same_length(x_val, y_val, "X_val", "y_val")
        if x_val.shape[1:] != x.shape[1:]:
            raise DataError(f"X_val samples are shaped {x_val.shape[1:]} but X samples are shaped {x.shape[1:]}; "
                            "they must match")
        if y_val.shape[1:] != y.shape[1:]:
            raise DataError(f"y_val is shaped {y_val.shape} but y is shaped {y.shape}; each row must match")
        if y.dtype.kind in "US" or y_val.dtype.kind in "US":  # joined labels must stay labels, not numbers
            y, y_val = y.astype(str), y_val.astype(str)
        return InMemory("arrays", x=np.concatenate([x, x_val]), y=np.concatenate([y, y_val]), train_rows=len(x))
    raise DataError("data must be (X, y), (X_train, y_train, X_val, y_val) or a DataFrame (pandas or pyarrow); "
                    f"got {_kind(data)}")


def _is_frame(data: Any) -> bool:
    """A pandas DataFrame (pandas already imported by the caller) or a pyarrow Table."""
    import pyarrow as pa

    pandas = sys.modules.get("pandas")
    return isinstance(data, pa.Table) or (pandas is not None and isinstance(data, pandas.DataFrame))


def _arrow_table(data: Any):
    """A pyarrow Table of the frame's columns (a pandas index is not a column)."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        table = data
    else:
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise DataError(f"data (a DataFrame) cannot be read as a table: {exc}") from None
    if table.num_rows == 0:
        raise DataError("data (a DataFrame) has no rows; give at least one to train on")
    names = [str(n) for n in table.column_names]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"data (a DataFrame) has the column name {twice[0]!r} more than once; column names must differ")
    return table.rename_columns(names)


def _kind(value: Any) -> str:
    """A short description of a value for an error message."""
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return type(value).__name__


def _features(value: Any, name: str) -> np.ndarray:
    """``value`` as a numeric array shaped (n, features), (n, H, W) or (n, C, H, W), without NaN or infinity."""
    try:
        x = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} cannot be read as an array: {exc}") from None
    if x.dtype.kind not in "biuf":
        raise DataError(f"{name} must hold numbers (a float or integer array); got dtype {x.dtype}. "
                        "Pass a DataFrame (data=frame, with data.target) to train on text or category columns")
    if x.ndim not in (2, 3, 4):
        raise DataError(f"{name} must be shaped (samples, features) for a table or (samples, H, W) / "
                        f"(samples, C, H, W) for images; got shape {x.shape}")
    if len(x) == 0 or x.size == 0:
        raise DataError(f"{name} holds no samples (shape {x.shape}); give at least one row to train on")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        at = np.argwhere(~np.isfinite(x))[0]
        bad = x[tuple(at)]
        raise DataError(f"{name} holds {'NaN' if np.isnan(bad) else 'infinity'} at index {tuple(int(i) for i in at)}; "
                        "every feature must be a finite number (fill or drop missing values first)")
    return x


def _labels(value: Any, name: str) -> np.ndarray:
    """``value`` as targets shaped (n,) (class labels or values) or (n, k) (k regression targets)."""
    try:
        y = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} cannot be read as an array: {exc}") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2) or len(y) == 0:
        raise DataError(f"{name} must be shaped (samples,) or (samples, targets); got shape {y.shape}")
    if y.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and v != v) for v in y.ravel().tolist()):
            raise DataError(f"{name} holds a missing value (None or NaN); every sample needs a target")
        y = y.astype(str)
    if y.dtype.kind not in "biufUS":
        raise DataError(f"{name} must hold class labels (integers, booleans or strings) or numbers; got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        at = int(np.argwhere(~np.isfinite(y.reshape(len(y), -1)))[0][0])
        raise DataError(f"{name} holds NaN or infinity at sample {at}; every sample needs a finite target")
    if y.ndim == 2 and y.dtype.kind not in "biuf":
        raise DataError(f"{name} with several columns is several regression targets and must hold numbers; "
                        f"got dtype {y.dtype}")
    return y


def _same_length(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> None:
    if len(x) != len(y):
        raise DataError(f"{x_name} has {len(x)} samples but {y_name} has {len(y)}; they must have one target per sample")


def array_data(given: InMemory, spec: DataSpec) -> ArrayData:
    """The arrays as :class:`ArrayData`, their task decided as the module docstring says."""
    x, y = given.x, given.y
    regression = spec.task == "regression" if spec.task != "auto" else (y.dtype.kind == "f" or y.ndim == 2)
    names = [f"x{i}" for i in range(int(np.prod(x.shape[1:])))]
    if regression:
        if y.dtype.kind not in "biuf":
            raise ConfigError(f"data.task 'regression' needs numeric targets; y holds {y.dtype} labels")
        values = y.astype(np.float64)
        width = 1 if y.ndim == 1 else y.shape[1]
        return ArrayData(x, values, "regression", names, ["y"] if width == 1 else [f"y{i}" for i in range(width)])
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise ConfigError(f"data.task '{spec.task}' needs class labels; y holds fractional numbers (e.g. "
                          f"{y[np.mod(y, 1) != 0][0]})")
    labels = np.asarray([str(int(v)) for v in y.tolist()]) if y.dtype.kind in "iuf" else y.astype(str)
    classes = sorted(set(labels.tolist()), key=label_order)
    task = "binary" if len(classes) == 2 else "multiclass"
    return ArrayData(x, labels, task, names, ["y"], classes)


def frame_table(given: InMemory) -> Table:
    """The frame as the Table the file readers return, its columns kept as pyarrow arrays."""
    return Table("DataFrame", {name: given.table.column(name) for name in given.table.column_names})


def planned_rows(given: InMemory) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(train, val, test) rows when validation arrays were given (no test rows then); None to split by data.split."""
    if given.train_rows is None:
        return None
    return np.arange(given.train_rows), np.arange(given.train_rows, len(given.x)), np.arange(0)
