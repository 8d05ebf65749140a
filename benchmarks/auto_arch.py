"""``model.arch: auto`` against the best hand-written example config of each data kind, side by side.

Run it from the repository root:

    .venv/bin/python benchmarks/auto_arch.py

For each example (iris, digits as images, the reviews text set, the forecast series, reversed strings) it
trains the config as written and the same config with its model section removed (so ``auto`` picks the
model; data and training settings are the example's), then prints the test metric of both, the gap, and
the model auto chose.
Target: accuracy within 2 points, or an error within 10% of the example's.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

from lamina.trainer import train

ROOT = Path(__file__).resolve().parents[1]
CASES = [  # (example, metric, higher is better)
    ("iris_mlp.yaml", "accuracy", True),
    ("digits_cnn.yaml", "accuracy", True),
    ("text_csv.yaml", "accuracy", True),
    ("forecast_csv.yaml", "mae", False),
    ("reverse_transformer.yaml", "exact_match", True),
]


def run(config: dict, metric: str) -> tuple[float, str, float]:
    """Train ``config``; its test ``metric``, the arch it used and the seconds it took."""
    started = time.perf_counter()
    result = train(config, progress="none")
    summary = json.loads(result.folder.summary.read_text())
    return float(summary["test"][metric]), result.spec.model.arch, time.perf_counter() - started


def main() -> None:
    """Train each example as written and with ``arch: auto``; print one comparison row each."""
    with tempfile.TemporaryDirectory() as tmp:
        print("| data | example | metric | example's | auto's | auto chose | gap |")
        print("|---|---|---|---|---|---|---|")
        for name, metric, higher in CASES:
            config = yaml.safe_load((ROOT / "examples" / name).read_text())
            config["runs_dir"] = tmp
            if "path" in config["data"]:
                config["data"]["path"] = str(ROOT / config["data"]["path"])
            auto = copy.deepcopy(config)
            del auto["model"]
            auto["name"] += "-auto"
            mine, arch, _ = run(config, metric)
            theirs, chosen, _ = run(auto, metric)
            gap = (theirs - mine) * 100 if higher else (theirs - mine) / mine * 100
            unit = "points" if higher else "% of the error"
            print(f"| {config['data'].get('dataset') or Path(config['data']['path']).name} | {name} ({arch}) | "
                  f"{metric} | {mine:.4f} | {theirs:.4f} | {chosen} | {gap:+.1f} {unit} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
