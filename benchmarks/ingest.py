"""Reading a large table end to end: ``lamina train`` on a generated CSV and Parquet file, beside pandas and pyarrow.

Run it from the repository root:

    .venv/bin/python benchmarks/ingest.py                 # 1,000,000 rows
    .venv/bin/python benchmarks/ingest.py --rows 5000000  # the 4 GB target

It writes, in a temporary folder, a table of ``--rows`` rows x 30 numeric
columns + 2 categorical columns (8 and 40 values) + a binary label, as CSV and
as Parquet, then for each file:

* trains one epoch with ``lamina train`` in a subprocess (an MLP with one
  hidden layer of 32, batch 1024, diagnosis and TensorBoard off)
  and prints its peak resident memory (the subprocess's maximum RSS, from
  ``getrusage(RUSAGE_CHILDREN)`` in a wrapper process of its own) and the phase seconds lamina wrote in the run's
  ``summary.json`` (read, prepare, the data-quality report made from the same columns, train, test scoring);
* reads the same file with ``pandas.read_csv`` / ``pandas.read_parquet`` and
  ``pyarrow.csv.read_csv`` / ``pyarrow.parquet.read_table``, each in its own
  subprocess, printing seconds and peak memory.

Targets (issue 19): CSV peak <= 1.5 GB at 1M rows; lamina's read + prepare
<= 2x pandas' read time; the test split is scored from the prepared arrays
(test_seconds covers only the model's forward pass and the metrics, not a
second read); 5M rows complete with peak <= 4 GB. The verdicts are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

READERS = {
    "pandas": {"csv": "import pandas; pandas.read_csv({path!r})",
               "parquet": "import pandas; pandas.read_parquet({path!r})"},
    "pyarrow": {"csv": "import pyarrow.csv; pyarrow.csv.read_csv({path!r})",
                "parquet": "import pyarrow.parquet; pyarrow.parquet.read_table({path!r})"},
}


def write_table(folder: Path, rows: int, seed: int = 0) -> dict[str, Path]:
    """The generated table as CSV and Parquet (written in chunks, so the generator stays small)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=30)
    paths = {"csv": folder / "table.csv", "parquet": folder / "table.parquet"}
    writer_csv, writer_pq = None, None
    for start in range(0, rows, 500_000):
        n = min(500_000, rows - start)
        x = rng.normal(size=(n, 30))
        shop = rng.integers(0, 8, n)
        city = rng.integers(0, 40, n)
        label = (x @ weights + (shop == 3) * 2 - (city < 5) > 0).astype(np.int8)
        columns = {f"x{i}": np.round(x[:, i], 5) for i in range(30)}
        columns["shop"] = np.array([f"shop{i}" for i in range(8)])[shop]
        columns["city"] = np.array([f"city{i}" for i in range(40)])[city]
        columns["label"] = label
        chunk = pa.table(columns)
        if writer_csv is None:
            writer_csv = pacsv.CSVWriter(paths["csv"], chunk.schema)
            writer_pq = pq.ParquetWriter(paths["parquet"], chunk.schema)
        writer_csv.write_table(chunk)
        writer_pq.write_table(chunk)
    writer_csv.close()
    writer_pq.close()
    return paths


PEAK_WRAPPER = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
                "print('peak_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
                "sys.exit(code)")


def peak_of(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(seconds, peak resident GB, result) of a subprocess: a small wrapper process runs it and reports
    ``getrusage(RUSAGE_CHILDREN)``, so the peak is that command's alone (Linux: ru_maxrss in kB)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    line = [row for row in done.stderr.splitlines() if row.startswith("peak_kb ")][-1]
    return seconds, int(line.split()[1]) / 1024**2, done


def train_lamina(path: Path, folder: Path, python: str) -> dict:
    """One epoch of lamina train on ``path``: wall seconds, peak GB and the phase timings from summary.json."""
    config = folder / f"{path.suffix[1:]}.yaml"
    runs = Path(tempfile.mkdtemp(prefix="runs-", dir=folder))  # a fresh runs_dir: a kept folder's old run is never read
    config.write_text(json.dumps({
        "name": f"ingest-{path.suffix[1:]}", "runs_dir": str(runs), "seed": 0,
        "data": {"path": str(path), "target": "label"},
        "model": {"arch": "mlp", "hidden": [32]},
        "train": {"epochs": 1, "batch_size": 1024, "diagnose": False, "tensorboard": False},
    }))
    seconds, peak, done = peak_of([python, "-m", "lamina", "train", str(config), "--progress", "plain"])
    if done.returncode != 0:
        raise SystemExit(f"lamina train failed:\n{done.stderr[-3000:]}")
    summary = json.loads((runs / f"ingest-{path.suffix[1:]}" / "summary.json").read_text())
    return {"seconds": seconds, "peak_gb": peak, **summary["timings"], "test": summary["test"]}


def read_with(reader: str, kind: str, path: Path, python: str) -> tuple[float, float]:
    """Seconds (inside the child, reading only) and peak GB of a reader on ``path``."""
    code = f"import time; t = time.perf_counter(); {READERS[reader][kind].format(path=str(path))}; " \
           "print(time.perf_counter() - t)"
    _, peak, done = peak_of([python, "-c", code])
    if done.returncode != 0:
        raise SystemExit(f"{reader} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1]), peak


def main() -> None:
    """Generate, read, train, print the figures and the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--folder", help="keep the generated files here, and reuse them when they hold --rows rows "
                                         "(default: a temporary folder)")
    args = parser.parse_args()
    python = sys.executable
    print(f"{args.rows:,} rows x (30 numeric + 2 categorical + label); {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        marker = folder / "rows.txt"  # a kept folder holding this many rows already is reused
        if args.folder and marker.is_file() and marker.read_text() == str(args.rows):
            paths = {"csv": folder / "table.csv", "parquet": folder / "table.parquet"}
        else:
            paths = write_table(folder, args.rows)
            marker.write_text(str(args.rows))
        print(f"generated in {time.perf_counter() - started:.1f}s: " +
              ", ".join(f"{k} {p.stat().st_size / 1e6:.0f} MB" for k, p in paths.items()))
        for kind in args.formats.split(","):
            path = paths[kind]
            reads = {reader: read_with(reader, kind, path, python) for reader in READERS}
            lamina = train_lamina(path, folder, python)
            print(f"\n{kind}: {path.name}")
            for reader, (seconds, peak) in reads.items():
                print(f"  {reader:8s} read        {seconds:7.2f} s   peak {peak:5.2f} GB")
            ready = lamina["read_seconds"] + lamina["prepare_seconds"]
            print(f"  lamina   read        {lamina['read_seconds']:7.2f} s")
            print(f"  lamina   prepare     {lamina['prepare_seconds']:7.2f} s")
            print(f"  lamina   quality     {lamina.get('quality_seconds', float('nan')):7.2f} s   "
                  "(the quality report, from the columns already read)")
            print(f"  lamina   train       {lamina['train_seconds']:7.2f} s   (1 epoch)")
            print(f"  lamina   test score  {lamina['test_seconds']:7.2f} s   (from the prepared arrays)")
            print(f"  lamina   whole run   {lamina['seconds']:7.2f} s   peak {lamina['peak_gb']:5.2f} GB   "
                  f"test accuracy {lamina['test'].get('accuracy', float('nan')):.3f}")
            ratio = ready / reads["pandas"][0]
            limit = 1.5 if args.rows <= 1_000_000 else 4.0
            print(f"  read + prepare = {ratio:.2f}x pandas' read (target <= 2x): {'met' if ratio <= 2 else 'NOT met'}")
            print(f"  peak {lamina['peak_gb']:.2f} GB (target <= {limit} GB): "
                  f"{'met' if lamina['peak_gb'] <= limit else 'NOT met'}")


if __name__ == "__main__":
    main()
