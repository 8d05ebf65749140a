"""Readers for the files a user hands in: CSV tables and NPZ arrays.

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
