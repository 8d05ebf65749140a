"""Readers for the files a user hands in: tables (CSV, Parquet, Arrow IPC, JSON Lines) and NPZ arrays.

Both refuse empty, unreadable or ragged files with a message naming the file
(and the row or key), and NPZ files are opened with ``allow_pickle=False`` so
an object array can never run code.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.errors import DataError

MISSING = {"", "na", "nan", "null", "none", "?"}


@dataclass
class Table:
    """A CSV file as named string columns, plus where it came from (for error messages)."""

    source: str
    columns: dict[str, list[str]]

    @property
    def rows(self) -> int:
        """Number of data rows."""
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def column(self, name: str, where: str = "column") -> list[str]:
        """A column by name, or a DataError listing the columns the file has."""
        from lamina.errors import did_you_mean

        if name not in self.columns:
            raise DataError(
                f"{self.source} has no {where} '{name}'.{did_you_mean(name, self.columns)} "
                f"Columns: {', '.join(self.columns)}"
            )
        return self.columns[name]


def read_csv(path: str | Path) -> Table:
    """Read a CSV with a header row into string columns; rows must all have the header's width."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start}); is it really a CSV file?") from None
    if not text.strip():
        raise DataError(f"{path} is empty; a CSV needs a header row and at least one data row")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
        body = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise DataError(f"{path} is not valid CSV: {exc}") from None
    if len(set(header)) != len(header) or any(not h for h in header):
        raise DataError(f"{path}: header names must be unique and non-empty; got {header}")
    if not body:
        raise DataError(f"{path} has a header but no data rows")
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise DataError(f"{path} row {i + 2} has {len(row)} fields; the header has {len(header)}")
    columns = {name: [row[j].strip() for row in body] for j, name in enumerate(header)}
    return Table(str(path), columns)


def is_missing(value: str) -> bool:
    """True for the spellings of a missing cell (empty, NA, NaN, null, None, ?)."""
    return value.strip().lower() in MISSING


def parse_float(value: str) -> float | None:
    """The number in a cell, NaN for a missing cell, or None when the cell is text."""
    if is_missing(value):
        return float("nan")
    try:
        return float(value)
    except ValueError:
        return None


def read_npz(path: str | Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named arrays from an NPZ file (no pickled objects allowed)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DataError(f"{path} has no array '{missing[0]}'; it holds: {', '.join(npz.files) or 'nothing'}")
            return {k: np.asarray(npz[k]) for k in keys}
    except DataError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable NPZ file ({exc})") from None
    except MemoryError:  # a header claiming 10^12 rows: numpy allocates before reading
        raise DataError(f"{path} is not a readable NPZ file: its array headers claim more memory than this "
                        "machine has") from None


# ---------------------------------------------------------------- columnar tables (pyarrow)

TABLE_FORMATS = {"csv": "csv", "tsv": "csv", "parquet": "parquet", "pq": "parquet", "feather": "arrow",
                 "arrow": "arrow", "ipc": "arrow", "jsonl": "jsonl", "ndjson": "jsonl"}
NA_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL")  # data.na_values' default
BLOCK_BYTES = 16 << 20  # CSV/JSONL parse block: a row longer than this is refused, so memory stays bounded
SAMPLE_BYTES = 1 << 20  # a CSV's first block, whose inferred column types the whole read then uses


def table_format(path: str | Path, fmt: str = "auto") -> str | None:
    """The table format of ``path`` (csv, parquet, arrow, jsonl) from ``fmt`` or the extension; None if not a table."""
    if fmt != "auto":
        return TABLE_FORMATS.get(fmt, fmt if fmt in TABLE_FORMATS.values() else None)
    return TABLE_FORMATS.get(Path(path).suffix.lower().lstrip("."))


def read_table(path: str | Path, fmt: str = "auto", na_values: list[str] | tuple[str, ...] = NA_VALUES):
    """Read a CSV, Parquet, Feather/Arrow IPC or JSON Lines file into a typed, columnar ``pyarrow.Table``.

    Columnar and typed (pyarrow), so a million rows never become Python strings. ``na_values`` are
    the spellings of a missing cell (CSV; string cells of the other formats too). A file pyarrow
    cannot read (damaged, not that format, a row longer than 16 MB) is a DataError naming the file.
    """
    import pyarrow as pa

    path = Path(path)
    kind = table_format(path, fmt)
    if kind is None:
        raise DataError(f"{path} is not a table file lamina reads (csv, parquet, feather/arrow, jsonl)")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; a table needs a header row and at least one data row")
    try:
        with path.open("rb"):  # the permission check, in Python: pyarrow's own error would not say which
            pass
    except PermissionError:
        raise DataError(f"{path} cannot be read: permission denied") from None
    try:
        table = _read_arrow(path, kind, list(na_values))
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        if "straddl" in reason:
            reason = f"a row is longer than {BLOCK_BYTES >> 20} MB"
        raise DataError(f"{path} is not a readable {kind} file ({reason})") from None
    names = table.column_names
    if len(set(names)) != len(names) or any(not str(n).strip() for n in names):
        raise DataError(f"{path}: column names must be unique and non-empty; got {names[:20]}")
    if table.num_rows == 0:
        raise DataError(f"{path} has a header but no data rows")
    if kind != "csv":
        table = _null_na_strings(table, list(na_values))
    release_arrow_memory()
    return table


def release_arrow_memory() -> None:
    """Hand the memory pyarrow has freed back to the system: its allocator otherwise keeps the pages for
    pyarrow's own reuse, where numpy (the input arrays made next) cannot use them. After a CSV read this
    returns the parser's working memory (about as much again as the table)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _read_arrow(path: Path, kind: str, na_values: list[str]):
    """The file read by pyarrow's reader for ``kind``."""
    import pyarrow as pa

    if kind == "csv":
        from pyarrow import csv

        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        parse = csv.ParseOptions(delimiter=delimiter)
        options = dict(null_values=na_values, strings_can_be_null=True, quoted_strings_can_be_null=True)
        typed = _sampled_types(path, parse, options)
        if typed:
            try:  # the types the first rows show, given up front: less time and half the memory of inferring them
                return csv.read_csv(path, read_options=csv.ReadOptions(block_size=BLOCK_BYTES), parse_options=parse,
                                    convert_options=csv.ConvertOptions(column_types=typed, **options))
            except pa.ArrowInvalid:  # a later row breaks a sampled type (text below numbers): infer from every row
                pass
        return csv.read_csv(path, read_options=csv.ReadOptions(block_size=BLOCK_BYTES), parse_options=parse,
                            convert_options=csv.ConvertOptions(**options))
    if kind == "parquet":
        from pyarrow import parquet

        return parquet.read_table(path)
    if kind == "arrow":
        from pyarrow import feather

        return feather.read_table(path)
    from pyarrow import json

    return json.read_json(path, read_options=json.ReadOptions(block_size=BLOCK_BYTES))


def _sampled_types(path: Path, parse, options: dict) -> dict:
    """Column types pyarrow infers from the first SAMPLE_BYTES of a CSV (all-missing columns left to infer later).

    Reading with the types known saves pyarrow keeping every block in an inferring form: at 1M rows x 32
    columns the read peaks at about half the memory. An unreadable start gives no types (the full read reports it).
    """
    import pyarrow as pa
    from pyarrow import csv

    try:
        with csv.open_csv(path, read_options=csv.ReadOptions(block_size=SAMPLE_BYTES), parse_options=parse,
                          convert_options=csv.ConvertOptions(**options)) as reader:
            schema = reader.schema
    except (pa.ArrowException, OSError, ValueError):
        return {}
    return {field.name: field.type for field in schema if not pa.types.is_null(field.type)}


def _null_na_strings(table, na_values: list[str]):
    """String cells spelled like a missing value become nulls (CSV does this while parsing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = table.column(i)
            missing = pc.is_in(column, value_set=pa.array(na_values, field.type))
            table = table.set_column(i, field.name, pc.if_else(missing, pa.scalar(None, field.type), column))
    return table
