"""Write digits_sample.csv: the last ten of scikit-learn's 8x8 digits as raw pixels (0-16), one column per pixel.

It is the input of the `lamina embed` and `lamina anomaly` examples (columns named like a digits run's
features, pixel_<row>_<column>). Run: python examples/data/make_digits_sample.py
"""

from pathlib import Path

from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Write the file beside this script."""
    digits = load_digits()
    header = ",".join(f"pixel_{r}_{c}" for r in range(8) for c in range(8))
    rows = [",".join(str(int(v)) for v in row) for row in digits.data[-10:]]
    (HERE / "digits_sample.csv").write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
