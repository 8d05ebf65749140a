"""The demo run: a small CNN on scikit-learn's digits, the first thing `make demo` shows."""

from __future__ import annotations

from typing import Any

DEMO_CONFIG: dict[str, Any] = {
    "name": "demo-digits-cnn",
    "seed": 0,
    "data": {"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
    "model": {"arch": "cnn", "channels": [32, 64], "dense": [128], "dropout": 0.3, "init": "he"},
    "train": {
        "epochs": 30,
        "batch_size": 32,
        "optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 0.0001},
        "schedule": {"name": "onecycle"},
        "label_smoothing": 0.05,
    },
}


def demo_spec(runs_dir: str = "runs"):
    """The demo's RunSpec, writing its run folder under ``runs_dir``."""
    from lamina.config import parse_run_spec

    return parse_run_spec({**DEMO_CONFIG, "runs_dir": runs_dir}, "demo config")
