"""Each table column's kind, detected from its values (or set by ``data.columns``), and the schema table.

Kinds: numeric, categorical, datetime (used as inputs); text, id-like, constant,
empty and ignore (left out); target. The schema (one row per column: kind, how
it was detected, missing cells, distinct values, what lamina does with it) is
printed before training and saved as the run's ``schema.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lamina.data.columns import (cardinality, first_non_number, is_number, is_temporal, is_text, parse_datetimes,
                                 parse_numbers)
from lamina.errors import DataError

ID_SHARE = 0.5  # a text column with distinct values in more than this share of its rows is an id or free text
ID_MIN_ROWS = 20  # below this many rows every column looks unique; nothing is called id-like
LEFT_OUT = ("text", "id-like", "constant", "empty", "ignore")


@dataclass
class ColumnKind:
    """One column of the schema."""

    column: str
    kind: str
    detected: str
    missing: int
    cardinality: int
    action: str = ""

    def as_dict(self) -> dict:
        """Plain data for schema.json."""
        return asdict(self)


@dataclass
class Detected:
    """A column's kind plus the values it was parsed into (numbers or epoch seconds), so nothing is parsed twice."""

    kind: ColumnKind
    values: np.ndarray | None = None


def detect(column, name: str, source: str, override: str | None, max_categories: int = 50,
           distinct: int | None = None) -> Detected:
    """The kind of one feature column (already with missing cells as nulls), honouring a ``data.columns`` override.

    Text with spaces in most cells and more distinct values than ``max_categories`` is free text.
    ``distinct``: the number of distinct values of a number column, when already counted (the quality report).
    """
    missing = column.null_count
    numbers, signed = parse_numbers(column) if override in (None, "numeric") else (None, False)
    if numbers is None:
        distinct = cardinality(column)
    elif distinct is None or not is_number(column):
        distinct = _distinct(numbers)
    row = lambda kind, how, values=None: Detected(ColumnKind(name, kind, how, missing, distinct), values)  # noqa: E731
    if override is not None:
        return _forced(column, name, source, override, row)
    present = len(column) - missing
    if present == 0:
        return row("empty", "every cell missing")
    if distinct == 1:
        return row("constant", "one value in every row")
    if is_temporal(column):
        return row("datetime", f"{column.type} column", parse_datetimes(column))
    if numbers is not None:
        if distinct == present and _row_number(numbers, present):
            return row("id-like", "whole numbers, one per row, consecutive")
        how = "numbers with separators, currency or % signs" if signed else (
            f"{column.type} column" if not is_text(column) else "text that parses as numbers")
        return row("numeric", how, numbers)
    if is_text(column):
        seconds = parse_datetimes(column)
        if seconds is not None:
            return row("datetime", "text that parses as dates", seconds)
        unique = present >= ID_MIN_ROWS and distinct > ID_SHARE * present
        spaced = _share_with_spaces(column) if unique or distinct > max_categories else 0.0
        if spaced > 0.5:
            return row("text", f"free text: {distinct} distinct values, {spaced:.0%} with spaces")
        if unique:
            return row("id-like", f"{distinct} distinct values in {present} rows")
        return row("categorical", "text with repeated values")
    return row("ignore", f"unsupported type {column.type}")


def _forced(column, name: str, source: str, kind: str, row) -> Detected:
    """A kind set by data.columns, checked against the values (a column of words cannot be numeric)."""
    how = "data.columns"
    if kind == "numeric":
        numbers, _ = parse_numbers(column)
        if numbers is None:
            at, cell = first_non_number(column)
            raise DataError(f"{source} row {at + 2}, column '{name}': expected a number; got text {cell!r} "
                            "(data.columns or data.numeric sets it numeric)")
        return row("numeric", how, numbers)
    if kind == "datetime":
        seconds = parse_datetimes(column)
        if seconds is None:
            raise DataError(f"data.columns sets '{name}' to datetime, but {source} column '{name}' does not parse "
                            "as dates (ISO 8601 like 2024-03-01 or 2024-03-01 12:00, or day/month/year)")
        return row("datetime", how, seconds)
    return row(kind, how)


def _distinct(numbers: np.ndarray) -> int:
    """Number of distinct non-missing values of a numeric column (a sort: faster than hashing here)."""
    present = np.sort(numbers[~np.isnan(numbers)])
    return int(np.count_nonzero(present[1:] != present[:-1])) + 1 if present.size else 0


def _row_number(numbers: np.ndarray, present: int) -> bool:
    """True for a column of whole numbers that counts rows: distinct, consecutive (a row id)."""
    if present < ID_MIN_ROWS or present != len(numbers):
        return False
    if not np.all(np.mod(numbers[:1000], 1) == 0) or not np.all(np.mod(numbers, 1) == 0):
        return False
    low, high = numbers.min(), numbers.max()
    return high - low + 1 == present


def _share_with_spaces(column) -> float:
    """Share of non-missing cells holding a space (free text has words; ids and codes do not)."""
    import pyarrow.compute as pc

    present = column.drop_null()
    return float(pc.mean(pc.match_substring(present, " ").cast("int8")).as_py() or 0.0)


def format_schema(rows: list[dict]) -> str:
    """The schema as one compact plain-text table (printed before training)."""
    header = ("column", "kind", "missing", "distinct", "action", "detected")
    lines = [header] + [(r["column"], r["kind"], str(r["missing"]), str(r["cardinality"]), r["action"], r["detected"])
                        for r in rows]
    widths = [min(28, max(len(line[i]) for line in lines)) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell[:28].ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1]
                     for line in lines)
