"""Underfitting is judged against a linear model fitted on the run's own split (issue 24, item 12)."""

from __future__ import annotations

from pathlib import Path

import torch

from lamina.config import load_config
from lamina.diagnose.detectors import underfitting
from lamina.diagnose.reference import linear_reference
from lamina.files import read_json
from lamina.trainer import train

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = {"model": "RidgeClassifier", "metric": "val_accuracy", "value": 0.95, "rows": 1000, "seconds": 0.01}


def _history(val_accuracy: float, train_loss: float, val_loss: float) -> list[dict[str, float]]:
    return [{"epoch": e, "train_loss": train_loss + 0.1 * (3 - e), "val_loss": val_loss, "val_accuracy": val_accuracy}
            for e in (1, 2, 3)]


def test_two_unit_mlp_on_digits_is_flagged_against_the_linear_reference(tmp_path: Path) -> None:
    """digits_mlp.yaml squeezed to 2 hidden units: far above chance, far below a linear model."""
    spec = load_config(ROOT / "examples" / "digits_mlp.yaml",
                       ["model.hidden=[2]", "train.epochs=20", f"runs_dir={tmp_path}", "train.tensorboard=false"])
    run = train(spec, progress="none")
    diagnosis = read_json(run.folder.root / "diagnosis.json")
    found = {f["name"]: f for f in diagnosis["findings"]}
    assert "underfitting" in found, diagnosis
    evidence = found["underfitting"]["evidence"]
    assert evidence["reference"]["value"] > 0.85 and evidence["best_val_accuracy"] < 0.7, evidence


def test_detector_is_silent_near_the_reference_and_when_overfitting() -> None:
    monitor = {"reference": REFERENCE, "baseline_loss": 2.3}
    assert underfitting(monitor, _history(0.93, 0.2, 0.25)) is None  # within 15 points of the reference
    assert underfitting(monitor, _history(0.60, 0.01, 1.5)) is None  # far below, but it memorized its rows
    fired = underfitting(monitor, _history(0.60, 1.2, 1.25))
    assert fired is not None and "RidgeClassifier" in fired.message


def test_reference_scores_each_task_and_skips_token_ids() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=gen)
    labels = (x[:, 0] + x[:, 1] > 0).long()
    ref = linear_reference(x[:300], labels[:300].float().view(-1, 1), x[300:], labels[300:].float().view(-1, 1), "binary")
    assert ref["metric"] == "val_accuracy" and ref["value"] > 0.9
    values = (2 * x[:, :1] - x[:, 1:2])
    ref = linear_reference(x[:300], values[:300], x[300:], values[300:], "regression")
    assert ref["metric"] == "val_loss" and ref["value"] < 0.01
    assert linear_reference(x[:300], values[:300], x[300:], values[300:], "regression", default_loss=False) is None
    assert linear_reference(labels[:300].view(-1, 1), labels[:300], labels[300:].view(-1, 1), labels[300:],
                            "multiclass") is None
