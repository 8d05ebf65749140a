"""Detectors fire on runs built to have their problem, stay silent on a healthy one, and --remedy fixes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.config import parse_run_spec
from lamina.diagnose.remedies import train_with_remedies
from lamina.files import read_json
from lamina.train.callbacks import Callback
from lamina.train.loop import State
from lamina.trainer import train
from tests.conftest import quick_spec


class _BlowUpAt(Callback):
    """Turn the loss of one optimizer step into NaN: a divergence at a known step."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_loss(self, state: State) -> None:
        if state.step == self.step:
            state.objective = state.objective * float("nan")


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


def _small_noisy(path: Path, n: int = 100, d: int = 20) -> str:
    """100 samples, 20 features, a label from two of them plus noise: easy to memorize, hard to generalize."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d))
    y = (x[:, 0] + x[:, 1] + 0.8 * rng.normal(size=n) > 0).astype(int)
    rows = "".join(",".join(f"{v:.4f}" for v in row) + f",{c}\n" for row, c in zip(x, y))
    path.write_text(",".join(f"f{i}" for i in range(d)) + ",label\n" + rows)
    return str(path)


def test_exploding_fires_names_step_and_layer_and_remedy_fixes(tmp_path: Path) -> None:
    spec = quick_spec(tmp_path, data={"dataset": "diabetes"}, model={"arch": "mlp", "hidden": [64, 64]},
                      train={"epochs": 10, "batch_size": 16, "tensorboard": False,
                             "optimizer": {"name": "sgd", "lr": 0.6, "momentum": 0.9}})
    report = train_with_remedies(parse_run_spec(spec), progress="none")
    assert "exploding_gradients" in report["before"]["findings"]
    assert "at step" in report["before"]["diverged"] and "layers." in report["before"]["diverged"]
    assert "train.clip_norm: None -> 1.0" in report["changes"]
    assert "exploding_gradients" not in report["after"]["findings"] and report["after"]["diverged"] is None
    assert report["after"]["val"]["val_loss"] < report["before"]["val"]["val_loss"]


def test_overfitting_fires_and_remedy_fixes(tmp_path: Path) -> None:
    spec = quick_spec(tmp_path, data={"path": _small_noisy(tmp_path / "small.csv"), "target": "label",
                                      "split": {"val": 0.3, "test": 0.0, "seed": 0}},
                      model={"arch": "mlp", "hidden": [256, 256]},
                      train={"epochs": 60, "batch_size": 16, "optimizer": {"lr": 0.003}, "tensorboard": False})
    report = train_with_remedies(parse_run_spec(spec), progress="none")
    assert "overfitting" in report["before"]["findings"]
    assert "overfitting" not in report["after"]["findings"]
    assert report["after"]["val"]["val_loss"] < report["before"]["val"]["val_loss"]
    assert report["after"]["val"]["val_accuracy"] >= report["before"]["val"]["val_accuracy"]


def test_diverged_run_rolls_back_to_last_good_checkpoint(tmp_path: Path) -> None:
    """Blow-up late in a run whose only finding is the divergence: the remedy continues from the checkpoint."""
    spec = quick_spec(tmp_path, data={"dataset": "diabetes"}, model={"arch": "mlp", "hidden": [64, 64]},
                      train={"epochs": 6, "batch_size": 16, "tensorboard": False, "optimizer": {"lr": 0.003}})
    spec = parse_run_spec(spec)
    blowup = _BlowUpAt(step=3 * 20 + 5)
    before = train_with_remedies(spec, progress="none", extra_callbacks=[blowup])
    assert before["before"]["findings"] == ["exploding_gradients"]
    assert "at step 66" in before["before"]["diverged"]
    assert before["before"]["rollback"].endswith("step-000000060")
    assert any("rolled back" in note for note in before["changes"])
    assert before["after"]["diverged"] is None
    assert read_json(Path(before["after"]["run"]) / "summary.json")["epochs_run"] == 3
