"""The labs' shared helpers: the CSV a lab generates reads back as it was written."""

from __future__ import annotations

import csv
from pathlib import Path

from lamina.labs.kit import write_csv


def test_write_csv_round_trips_rows_with_commas_and_leading_zeros(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data" / "pairs.csv", ["source", "target"], [["0123", "3210"], ["a, b", "c"]])
    with path.open(newline="") as handle:
        assert list(csv.reader(handle)) == [["source", "target"], ["0123", "3210"], ["a, b", "c"]]
    assert [p.name for p in path.parent.iterdir()] == ["pairs.csv"]  # the atomic write left no temp file behind
