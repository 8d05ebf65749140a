"""Metrics by task, checked against scikit-learn on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from lamina.errors import ConfigError
from lamina.evaluate.metrics import compute_metrics, higher_is_better, outputs_to_preds, resolve_metrics


def test_multiclass_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=(200, 4)), dtype=torch.float32)
    target = torch.tensor(rng.integers(0, 4, 200))
    out = compute_metrics(resolve_metrics("auto", "multiclass"), "multiclass", outputs_to_preds(logits, "multiclass"), target, 4)
    pred = logits.argmax(1).numpy()
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(target, pred), abs=1e-6)
    assert out["f1"] == pytest.approx(skm.f1_score(target, pred, average="macro"), abs=1e-6)
    assert out["precision"] == pytest.approx(skm.precision_score(target, pred, average="macro"), abs=1e-6)
    assert out["confusion_matrix"] == skm.confusion_matrix(target, pred).tolist()


def test_binary_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    logits = torch.tensor(rng.normal(size=(150, 1)), dtype=torch.float32)
    target = torch.tensor(rng.integers(0, 2, 150), dtype=torch.float32)[:, None]
    out = compute_metrics(["accuracy", "f1", "recall"], "binary", outputs_to_preds(logits, "binary"), target, 1)
    pred = (logits[:, 0] > 0).long().numpy()
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(target[:, 0], pred), abs=1e-6)
    assert out["f1"] == pytest.approx(skm.f1_score(target[:, 0], pred), abs=1e-6)
    assert out["recall"] == pytest.approx(skm.recall_score(target[:, 0], pred), abs=1e-6)


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    truth = torch.tensor(rng.normal(size=100))
    pred = truth + torch.tensor(rng.normal(scale=0.3, size=100))
    out = compute_metrics(["mse", "mae", "r2"], "regression", pred, truth, 1)
    assert out["mse"] == pytest.approx(skm.mean_squared_error(truth, pred), rel=1e-5)
    assert out["mae"] == pytest.approx(skm.mean_absolute_error(truth, pred), rel=1e-5)
    assert out["r2"] == pytest.approx(skm.r2_score(truth, pred), rel=1e-5)


def test_metric_must_fit_the_task() -> None:
    with pytest.raises(ConfigError, match="eval.metrics 'mse' does not apply to a multiclass task"):
        resolve_metrics(["accuracy", "mse"], "multiclass")
    with pytest.raises(ConfigError, match="Did you mean 'accuracy'"):
        resolve_metrics(["acuracy"], "multiclass")


def test_monitor_direction() -> None:
    assert higher_is_better("val_accuracy") and not higher_is_better("val_loss") and not higher_is_better("val_mse")
