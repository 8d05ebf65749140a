"""The common dataset suite: every builtin set loads, splits deterministically and trains a little."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lamina.config import DataSpec
from lamina.data.prepare import prepare_data
from lamina.registry import DATASETS

NAMES = DATASETS.names()


@pytest.mark.parametrize("name", NAMES)
def test_dataset_prepares_disjoint_deterministic_splits(name: str) -> None:
    a = prepare_data(DataSpec(dataset=name))
    b = prepare_data(DataSpec(dataset=name))
    rows = [a.train.rows, a.val.rows, a.test.rows]
    assert sum(len(r) for r in rows) == len(np.unique(np.concatenate(rows)))
    assert all(np.array_equal(r, s.rows) for r, s in zip(rows, [b.train, b.val, b.test]))
    assert torch.equal(a.train.x, b.train.x)
    tokens = a.preprocessor.inputs.kind == "tokens"
    assert a.train.x.dtype == (torch.int64 if tokens else torch.float32) and tuple(a.train.x.shape[1:]) == a.input_shape
    assert torch.isfinite(a.train.x).all()


@pytest.mark.parametrize("name", NAMES)
def test_dataset_scaling_is_fitted_on_train_only(name: str) -> None:
    data = prepare_data(DataSpec(dataset=name, view="flat"))
    if data.preprocessor.inputs.kind == "tokens":  # token ids are not scaled; they must index the vocabulary
        vocab = len(data.preprocessor.inputs.vocab)
        assert int(data.train.x.min()) >= 0 and int(data.train.x.max()) < vocab
        return
    x = data.train.x.reshape(len(data.train), -1).double()
    assert abs(float(x.mean())) < 1e-4
    assert torch.allclose(x.std(dim=0, unbiased=False)[x.std(dim=0) > 0], torch.ones(1, dtype=torch.float64), atol=1e-4)


def test_digits_views() -> None:
    image = prepare_data(DataSpec(dataset="digits", view="image"))
    flat = prepare_data(DataSpec(dataset="digits", view="flat"))
    assert image.input_shape == (1, 8, 8) and flat.input_shape == (64,)
    assert float(image.train.x.min()) == 0.0 and float(image.train.x.max()) == 1.0
    assert image.task == "multiclass" and image.n_outputs == 10


def test_classification_splits_are_stratified() -> None:
    data = prepare_data(DataSpec(dataset="iris"))
    counts = torch.bincount(data.test.y, minlength=3)
    assert int(counts.max() - counts.min()) <= 1


def test_tasks_of_builtins() -> None:
    assert prepare_data(DataSpec(dataset="breast_cancer")).task == "binary"
    diabetes = prepare_data(DataSpec(dataset="diabetes"))
    assert diabetes.task == "regression" and diabetes.n_outputs == 1
    assert abs(float(diabetes.train.y.mean())) < 1e-5
