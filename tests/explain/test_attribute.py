"""Integrated gradients pass the completeness check."""

from __future__ import annotations

from pathlib import Path

from lamina.data.prepare import prepare_data
from lamina.explain.attribute import attribute
from lamina.trainer import train
from tests.conftest import quick_spec


def test_integrated_gradients_completeness(tmp_path: Path) -> None:
    run = train(quick_spec(tmp_path, train={"epochs": 5, "batch_size": 16, "tensorboard": False}), progress="none")
    data = prepare_data(run.spec.data, fitted=run.preprocessor)
    _, attr, check = attribute("integrated_gradients", run.model, data.test.x[:16], data.train.x[:20])
    assert attr.shape == data.test.x[:16].shape
    assert check["relative_error"] < 0.05
