"""Turn a JSON prediction request into model inputs, or one 4xx-worthy problem naming the offending field.

A request holds ``instances``: each either an array (nested lists shaped like
one sample, or its flat features) or a record mapping feature (or CSV column)
names to values. Every value is checked for type and finiteness before the
run's saved preprocessing is applied, so nothing malformed reaches the model.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

import numpy as np

from lamina.data.preprocess import InputPrep, InputReport
from lamina.data.readers import Table
from lamina.errors import LaminaError


class PayloadError(LaminaError):
    """A request value that cannot be used; ``loc`` is its path in the JSON body."""

    def __init__(self, loc: list[Any], message: str, status: int = 422) -> None:
        super().__init__(message)
        self.loc, self.status = ["body", *loc], status


def _loc_text(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _number(value: Any, loc: list[Any]) -> float:
    """A finite JSON number (booleans and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PayloadError(loc, f"{_loc_text(loc)} must be a number; got {type(value).__name__} {value!r:.40}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        number = math.inf
    if not math.isfinite(number):
        raise PayloadError(loc, f"{_loc_text(loc)} must be a finite number; got {value}")
    return number


def _flat_numbers(value: Any, loc: list[Any], out: list[float], depth: int = 0) -> list[int]:
    """Append the numbers of a nested list to ``out``; returns the nesting's shape (refusing ragged lists)."""
    if not isinstance(value, list):
        out.append(_number(value, loc))
        return []
    if depth > 4:
        raise PayloadError(loc, f"{_loc_text(loc)} is nested too deeply for a sample")
    shapes = [_flat_numbers(v, [*loc, i], out, depth + 1) for i, v in enumerate(value)]
    if any(s != shapes[0] for s in shapes):
        raise PayloadError(loc, f"{_loc_text(loc)} is ragged: its items have different shapes")
    return [len(value), *(shapes[0] if shapes else [])]


_NUMBER_TYPES = {int, float}


def _leaf_kinds(items: list[Any], depth: int = 0) -> set[type]:
    """The types found below nested lists (the lists' own type where nesting goes deeper than a sample may)."""
    kinds = set(map(type, items))
    if kinds == {list} and depth <= 4:
        return _leaf_kinds(items[0] if len(items) == 1 else list(chain.from_iterable(items)), depth + 1)
    return kinds


def plain_batch(instances: list[Any], shape: tuple[int, ...]) -> np.ndarray | None:
    """Array instances as one float64 (N, *shape) array, or None to let :func:`array_inputs` name the problem.

    The fast path for well-formed requests: one pass over the values' types (only ints and floats; no
    booleans, strings or records) and one numpy conversion, instead of a check per value. None for
    anything else: records, another type, ragged or misshapen lists, an integer beyond float range.
    Values are not checked for finiteness here.
    """
    if not _leaf_kinds(instances) <= _NUMBER_TYPES:
        return None
    try:
        array = np.array(instances, dtype=np.float64)
    except (ValueError, OverflowError):  # ragged, or an integer too large for a float
        return None
    if array.shape[1:] == shape:
        return array
    if array.ndim == 2 and array.shape[1] == math.prod(shape):  # flat features
        return array.reshape(len(array), *shape)
    return None


def array_inputs(instances: list[Any], prep: InputPrep) -> np.ndarray:
    """Raw array samples (nested lists or records of feature names) as an (N, features) float array."""
    n = len(prep.offset)
    shape = list(prep.shape)
    fast = plain_batch(instances, tuple(shape))
    if fast is not None and np.isfinite(fast).all():
        return fast.reshape(len(fast), n)
    rows = []
    for i, inst in enumerate(instances):
        loc = ["instances", i]
        if isinstance(inst, dict):
            rows.append(_record_numbers(inst, prep.feature_names, loc))
            continue
        values: list[float] = []
        got = _flat_numbers(inst, loc, values)
        if got not in (shape, [n]):
            raise PayloadError(loc, f"{_loc_text(loc)} must have shape {shape} (or {n} flat values); got shape {got}")
        rows.append(values)
    return np.asarray(rows, dtype=np.float64)


def _record_numbers(record: dict[str, Any], names: list[str], loc: list[Any]) -> list[float]:
    """A record's values in feature order, refusing missing and unknown names."""
    unknown = sorted(set(record) - set(names))
    if unknown:
        raise PayloadError([*loc, unknown[0]], f"{_loc_text([*loc, unknown[0]])} is not a feature of this model")
    missing = [name for name in names if name not in record]
    if missing:
        raise PayloadError([*loc, missing[0]], f"{_loc_text([*loc, missing[0]])} is required (a number)")
    return [_number(record[name], [*loc, name]) for name in names]


def table_inputs(instances: list[Any], prep: InputPrep) -> tuple[np.ndarray, InputReport]:
    """Records of CSV column values, through the run's fitted table transform, with the count of unseen
    categories and out-of-range values per column."""
    columns: dict[str, list[str]] = {c.name: [] for c in prep.columns}
    kinds = {c.name: c for c in prep.columns}
    for i, inst in enumerate(instances):
        loc = ["instances", i]
        if not isinstance(inst, dict):
            raise PayloadError(loc, f"{_loc_text(loc)} must be a record of column values; got {type(inst).__name__}")
        unknown = sorted(set(inst) - set(kinds))
        if unknown:
            raise PayloadError([*loc, unknown[0]], f"{_loc_text([*loc, unknown[0]])} is not a column of this model")
        for name, column in kinds.items():
            value, where = inst.get(name), [*loc, name]
            if value is None:
                columns[name].append("")  # missing: imputed as in training (or refused when data.missing is reject)
            elif column.kind == "numeric":
                columns[name].append(repr(_number(value, where)))
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                columns[name].append(str(value))
            else:
                raise PayloadError(where, f"{_loc_text(where)} must be a category (a string); got {type(value).__name__}")
    return prep.table_inputs(Table("request", columns))


def array_batch(x: Any, prep: InputPrep) -> np.ndarray:
    """A numpy batch of raw samples, (N, *shape) or (N, features), as C-contiguous float32 (N, *shape).

    Refuses anything else with a PayloadError naming the place: not a numeric array, the wrong sample
    shape, or a value that is NaN, infinite or beyond float32's range.
    """
    if prep.kind != "array":
        raise PayloadError(["instances"], f"this model takes {prep.kind} inputs; array batches are for array runs")
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iuf":
        kind = f"{x.dtype} values" if isinstance(x, np.ndarray) else type(x).__name__
        raise PayloadError(["instances"], f"instances must be a numeric numpy array; got {kind}")
    shape, n = tuple(prep.shape), len(prep.offset)
    if x.ndim < 1 or x.shape[1:] not in (shape, (n,)):
        raise PayloadError(["instances"], f"instances must have shape (N, {', '.join(map(str, shape))}) or (N, {n}); "
                                          f"got {x.shape}")
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), *shape)
    bad = ~np.isfinite(out.reshape(len(x), n))
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        loc = ["instances", row, *(int(i) for i in np.unravel_index(col, x.shape[1:]))]  # as the caller laid it out
        value = x.reshape(len(x), n)[row, col]
        raise PayloadError(loc, f"{_loc_text(loc)} must be a finite number within float32 range; got {value}")
    return out


def model_inputs(instances: list[Any], prep: InputPrep) -> tuple[np.ndarray, InputReport | None]:
    """Preprocessed model inputs for a request's instances (table or array runs), with the table report."""
    if prep.kind == "table":
        return table_inputs(instances, prep)
    return prep.transform_array(array_inputs(instances, prep), "request"), None
