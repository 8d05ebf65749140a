"""Detectors fire on runs built to have their problem, stay silent on a healthy one, and --remedy fixes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.config import parse_run_spec
from lamina.diagnose.remedies import train_with_remedies
from lamina.files import read_json
from lamina.trainer import train
from tests.conftest import quick_spec


def _findings(root: Path) -> list[str]:
    return [f["name"] for f in read_json(root / "diagnosis.json")["findings"]]


def _checkerboard(path: Path, n: int = 400, k: int = 3) -> str:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, 2))
    y = ((np.floor((x[:, 0] + 1) * k / 2) + np.floor((x[:, 1] + 1) * k / 2)) % 2).astype(int)
    path.write_text("a,b,label\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for (a, b), c in zip(x, y)))
    return str(path)


def test_healthy_run_is_silent(tmp_path: Path) -> None:
    run = train(quick_spec(tmp_path, train={"epochs": 15, "batch_size": 16, "optimizer": {"lr": 0.01},
                                            "tensorboard": False, "diagnose": True}), progress="none")
    assert _findings(run.folder.root) == []


def test_vanishing_fires_and_remedy_fixes(tmp_path: Path) -> None:
    spec = quick_spec(tmp_path, model={"arch": "mlp", "hidden": [32] * 20, "activation": "sigmoid"},
                      train={"epochs": 5, "batch_size": 16, "optimizer": {"lr": 0.01}, "tensorboard": False})
    report = train_with_remedies(parse_run_spec(spec), progress="none")
    assert "vanishing_gradients" in report["before"]["findings"]
    assert "vanishing_gradients" not in report["after"]["findings"]
    assert report["after"]["val"]["val_loss"] < report["before"]["val"]["val_loss"]


def test_underfitting_fires_and_remedy_fixes(tmp_path: Path) -> None:
    spec = quick_spec(tmp_path, data={"path": _checkerboard(tmp_path / "cb.csv"), "target": "label"},
                      model={"arch": "mlp", "hidden": [1]},
                      train={"epochs": 20, "batch_size": 16, "optimizer": {"lr": 0.01}, "tensorboard": False})
    report = train_with_remedies(parse_run_spec(spec), progress="none")
    assert "underfitting" in report["before"]["findings"]
    assert "underfitting" not in report["after"]["findings"]
    assert report["after"]["val"]["val_accuracy"] > report["before"]["val"]["val_accuracy"] + 0.2
