"""Whole-column work on table columns (pyarrow arrays): missing spellings, numbers, dates, categories.

Every function here takes one column at a time and works on arrays (pyarrow
compute and numpy), never row by row in Python, so a million-row column costs
milliseconds. A column is a pyarrow array or chunked array; a list of strings
(a CSV read by the string reader, or a server request) is turned into one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.errors import DataError

LEGACY_MISSING = ["", "na", "nan", "null", "none", "?"]  # the spellings runs saved before data.na_values knew
NUMBER_NOISE = r"[\s,$€£¥]"  # thousands separators, currency signs and spaces inside a number
PROBE = 2000  # cells tried before parsing a whole text column as numbers or dates
CALENDAR = {"year": None, "month": 12.0, "day_of_year": 366.0, "day_of_week": 7.0, "hour": 24.0}


def arrow_column(values: Any, na_values: list[str] | None):
    """``values`` as a pyarrow array with missing cells null: ``na_values`` exactly, or the legacy spellings (None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, pa.string())
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_null(column.type):  # every cell empty
        column = column.cast(pa.string())
    if not is_text(column):
        return column
    if na_values is None:
        missing = pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(column)), value_set=pa.array(LEGACY_MISSING))
    else:
        missing = pc.is_in(pc.utf8_trim_whitespace(column), value_set=pa.array(na_values, pa.string()))
    return pc.if_else(missing, pa.scalar(None, column.type), pc.utf8_trim_whitespace(column))


def is_text(column) -> bool:
    """True for a string column."""
    import pyarrow as pa

    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def is_temporal(column) -> bool:
    """True for a date or timestamp column."""
    import pyarrow as pa

    return pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)


def is_number(column) -> bool:
    """True for an integer, float or boolean column."""
    import pyarrow as pa

    return pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type)


def parse_numbers(column) -> tuple[np.ndarray | None, bool]:
    """(float64 values with NaN for missing, whether signs were stripped), or (None, False) when a cell is words.

    Strings like ``"3,504"``, ``"$12.50"``, ``"€ 3 000"`` and ``"45%"`` (read as 0.45) are numbers.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if is_number(column):
        return _floats(column.cast(pa.float64())), False
    if not is_text(column) or (len(column) > PROBE and parse_numbers(_probe(column))[0] is None):
        return None, False
    try:
        return _floats(column.cast(pa.float64())), False
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    percent = pc.ends_with(column, "%")
    cleaned = pc.replace_substring_regex(pc.replace_substring(column, "%", ""), NUMBER_NOISE, "")
    try:
        values = _floats(cleaned.cast(pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None, False
    scale = np.where(percent.fill_null(False).to_numpy(zero_copy_only=False), 0.01, 1.0)
    return values * scale, True


def first_non_number(column) -> tuple[int, str]:
    """(row index, cell) of the first cell of a text column that is not a number, for error messages."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cleaned = pc.replace_substring_regex(pc.replace_substring(column, "%", ""), NUMBER_NOISE, "")
    pattern = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$"
    ok = pc.or_kleene(pc.match_substring_regex(cleaned, pattern, ignore_case=True), pc.is_null(column))
    row = int(pc.index(ok.fill_null(True), pa.scalar(False)).as_py())
    return row, column[row].as_py() if row >= 0 else ""


def parse_datetimes(column) -> np.ndarray | None:
    """Seconds since 1970 (float64, NaN for missing) of a date/time column or ISO-dated text; None when not dates."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if is_temporal(column):
        return _floats(column.cast(pa.timestamp("s")).cast(pa.int64()))
    if not is_text(column) or column.null_count == len(column):
        return None
    if len(column) > PROBE and parse_datetimes(_probe(column)) is None:
        return None
    for attempt in (lambda c: c.cast(pa.timestamp("s")),
                    lambda c: pc.strptime(c, "%d/%m/%Y", "s"), lambda c: pc.strptime(c, "%m/%d/%Y", "s")):
        try:
            return _floats(attempt(column).cast(pa.int64()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def calendar_features(seconds: np.ndarray, parts: list[str]) -> np.ndarray:
    """(N, len(parts)) calendar features of epoch seconds: year as is; month, day of year, day of week
    and hour as sine/cosine pairs (``month_sin``, ``month_cos``...) so December sits next to January."""
    finite = np.isfinite(seconds)
    stamps = np.where(finite, seconds, 0).astype("int64").astype("datetime64[s]")
    days = stamps.astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    raw = {
        "year": years.astype(np.int64) + 1970.0,
        "month": (days.astype("datetime64[M]") - years.astype("datetime64[M]")).astype(np.int64).astype(float),
        "day_of_year": (days - years.astype("datetime64[D]")).astype(np.int64).astype(float),
        "day_of_week": ((days.astype(np.int64) + 3) % 7).astype(float),  # 1970-01-01 was a Thursday
        "hour": ((stamps - days.astype("datetime64[s]")).astype(np.int64) // 3600).astype(float),
    }
    out = np.empty((len(seconds), len(parts)))
    for j, part in enumerate(parts):
        base, _, wave = part.rpartition("_")
        if wave in ("sin", "cos"):
            angle = 2 * np.pi * raw[base] / CALENDAR[base]
            out[:, j] = np.sin(angle) if wave == "sin" else np.cos(angle)
        else:
            out[:, j] = raw[part]
    out[~finite] = np.nan
    return out


def calendar_parts(seconds: np.ndarray) -> list[str]:
    """The calendar features worth making of these times: hour only when some time is not midnight."""
    parts = ["year"]
    for base in ("month", "day_of_year", "day_of_week"):
        parts += [f"{base}_sin", f"{base}_cos"]
    finite = seconds[np.isfinite(seconds)]
    if finite.size and np.any(finite % 86400 != 0):
        parts += ["hour_sin", "hour_cos"]
    return parts


def as_strings(column):
    """A column as a string array (numbers written as text), nulls kept."""
    import pyarrow as pa

    return column if is_text(column) else column.cast(pa.string())


def category_counts(column) -> tuple[list[str], list[int]]:
    """Distinct non-missing values of a string column and their counts, most frequent first (ties by value)."""
    import pyarrow.compute as pc

    counts = pc.value_counts(column.drop_null()) if len(column) else None
    if counts is None or len(counts) == 0:
        return [], []
    values = counts.field("values").to_pylist()
    numbers = counts.field("counts").to_pylist()
    order = sorted(range(len(values)), key=lambda i: (-numbers[i], values[i]))
    return [values[i] for i in order], [numbers[i] for i in order]


def category_codes(column, categories: list[str]) -> np.ndarray:
    """Each cell's index into ``categories`` (int64), -1 for a value not among them or a missing cell."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = pc.index_in(as_strings(column), value_set=pa.array(categories, pa.string()))
    return codes.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def missing_mask(column) -> np.ndarray:
    """True where a cell is missing (null)."""
    return column.is_null().to_numpy(zero_copy_only=False)


def cardinality(column) -> int:
    """Number of distinct non-missing values."""
    import pyarrow.compute as pc

    return int(pc.count_distinct(column, mode="only_valid").as_py())


def _probe(column):
    """The first PROBE non-missing cells: a column whose probe does not parse is not parsed whole."""
    return column.drop_null().slice(0, PROBE)


def _floats(column) -> np.ndarray:
    """A numeric pyarrow array as float64 numpy with NaN for nulls."""
    import pyarrow as pa

    return column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def check_finite(values: np.ndarray, source: str, name: str, nonfinite: str) -> np.ndarray:
    """Infinite cells become NaN (missing) when ``nonfinite`` is 'missing'; otherwise a DataError with their count."""
    infinite = np.isinf(values)
    if infinite.any():
        if nonfinite != "missing":
            raise DataError(f"{source} column '{name}' holds {int(infinite.sum())} infinite values (inf or -inf); "
                            "set data.nonfinite: missing to treat them as missing cells")
        values = np.where(infinite, np.nan, values)
    return values
