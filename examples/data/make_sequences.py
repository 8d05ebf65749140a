"""Write reviews.csv and seasonal.csv for examples/text_csv.yaml and examples/forecast_csv.yaml.

reviews.csv: generated movie reviews labelled pos/neg by a learnable rule (opinion words, flipped by
"not"); reviews_new.csv: a few unlabelled ones to try `lamina predict` on. seasonal.csv: two noisy
seasonal series (a 24-step cycle, a slow trend, autocorrelated noise), one row per time step.
Both come from lamina's own generators with fixed seeds:

    python examples/data/make_sequences.py
"""

from __future__ import annotations

import csv
from pathlib import Path

from lamina.data.synthetic import review_texts, seasonal_series

HERE = Path(__file__).resolve().parent


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write one CSV file with a header row."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    """Write the three files next to this script."""
    texts, labels = review_texts(1500, seed=0)
    write(HERE / "reviews.csv", ["review", "sentiment"], [[t, y] for t, y in zip(texts, labels)])
    new, _ = review_texts(5, seed=99)
    write(HERE / "reviews_new.csv", ["review"], [[t] for t in new])
    values = seasonal_series(1000, 2, seed=0)
    write(HERE / "seasonal.csv", ["hour", "north", "south"],
          [[str(i), f"{a:.3f}", f"{b:.3f}"] for i, (a, b) in enumerate(values)])


if __name__ == "__main__":
    main()
