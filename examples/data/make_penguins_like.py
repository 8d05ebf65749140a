"""Write penguins_like.csv: a small synthetic, penguin-flavoured table for examples/tabular_csv.yaml.

The numbers are made up (loosely after the Palmer penguins): three species,
an island and a sex column (text, so categorical), four body measurements
(numeric), a year (numbers that are better treated as categories), an id
column to drop, and a few missing cells written as "" or "NA". It also writes
penguins_like_new.csv: a few unlabelled rows to try `lamina predict` on.

Only the standard library's ``random.random()`` is used (its output for a
seed is guaranteed stable across Python versions), so the files come out
byte-identical every time:

    python examples/data/make_penguins_like.py
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ["id", "species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
           "body_mass_g", "sex", "year"]
# species: (rows, islands, bill length, bill depth, flipper length, body mass) as (mean, sd)
SPECIES = {
    "Adelie": (152, ["Torgersen", "Biscoe", "Dream"], (38.8, 2.6), (18.3, 1.2), (190.0, 6.5), (3700.0, 450.0)),
    "Chinstrap": (68, ["Dream"], (48.8, 3.2), (18.4, 1.1), (195.8, 7.0), (3730.0, 380.0)),
    "Gentoo": (124, ["Biscoe"], (47.5, 3.0), (15.0, 1.0), (217.2, 6.5), (5080.0, 500.0)),
}
MISSING_RATE = 0.02


def gauss(rng: random.Random, mean: float, sd: float) -> float:
    """A normal draw by Box-Muller from random() alone (random.gauss may change between versions)."""
    u1, u2 = 1.0 - rng.random(), rng.random()
    return mean + sd * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def make_rows(seed: int = 7) -> list[dict[str, str]]:
    """All labelled rows, shuffled, with a few cells blanked out."""
    rng = random.Random(seed)
    rows = []
    for species, (count, islands, bill, depth, flipper, mass) in SPECIES.items():
        for _ in range(count):
            male = rng.random() < 0.5
            grow = 1.0 if male else -1.0  # males are a little larger in every measurement
            rows.append({
                "species": species,
                "island": islands[int(rng.random() * len(islands))],
                "bill_length_mm": f"{gauss(rng, bill[0] + 1.0 * grow, bill[1]):.1f}",
                "bill_depth_mm": f"{gauss(rng, depth[0] + 0.5 * grow, depth[1]):.1f}",
                "flipper_length_mm": f"{gauss(rng, flipper[0] + 2.5 * grow, flipper[1]):.0f}",
                "body_mass_g": f"{gauss(rng, mass[0] + 200.0 * grow, mass[1]) // 25 * 25:.0f}",
                "sex": "male" if male else "female",
                "year": str(2007 + int(rng.random() * 3)),
            })
    rng.shuffle(rows)
    for i, row in enumerate(rows):
        row["id"] = f"P{i + 1:04d}"
        for column in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"):
            if rng.random() < MISSING_RATE:
                row[column] = "NA" if rng.random() < 0.5 else ""
    return rows


def write(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    rows = make_rows()
    write(HERE / "penguins_like.csv", rows, COLUMNS)
    new = make_rows(seed=8)[:5]  # fresh draws, species column left out
    write(HERE / "penguins_like_new.csv", new, [c for c in COLUMNS if c != "species"])
    print(f"wrote {len(rows)} rows to {HERE / 'penguins_like.csv'} and {len(new)} to {HERE / 'penguins_like_new.csv'}")


if __name__ == "__main__":
    main()
