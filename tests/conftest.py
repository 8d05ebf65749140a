"""Shared fixtures: small deterministic data files and quick run configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def tabular_csv(tmp_path: Path) -> Path:
    """A CSV with numeric and categorical features, a few missing cells and a 3-class text target."""
    rng = np.random.default_rng(0)
    n = 240
    size = rng.normal(10, 2, n)
    weight = rng.normal(50, 10, n)
    colour = rng.choice(["red", "green", "blue"], n)
    score = size * 2 + (colour == "red") * 6 + rng.normal(0, 1, n)
    label = np.where(score > 26, "high", np.where(score > 19, "mid", "low"))
    lines = ["size,weight,colour,label"]
    for i in range(n):
        s = "" if i % 37 == 5 else f"{size[i]:.3f}"
        c = "NA" if i % 41 == 7 else colour[i]
        lines.append(f"{s},{weight[i]:.3f},{c},{label[i]}")
    path = tmp_path / "table.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def quick_spec(tmp_path: Path, **sections) -> dict:
    """A small run config (plain data) writing into ``tmp_path``; sections override the defaults."""
    spec = {
        "name": "t",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"dataset": "iris"},
        "model": {"arch": "mlp", "hidden": [16]},
        "train": {"epochs": 3, "batch_size": 32, "tensorboard": False},
    }
    for key, value in sections.items():
        spec[key] = value
    return spec
