"""Learning from k labelled examples per class: one split, one training, one test accuracy.

Used by ``benchmarks/transfer_digits.py`` (the scratch / feature-extraction / fine-tuning table)
and by the tests. The model and its training come from ordinary specs, and a backbone
model is trained exactly as ``lamina train`` trains it (:func:`lamina.transfer.setup.plan_training`).
"""

from __future__ import annotations

import numpy as np
import torch

from lamina.config import ModelSpec, RunSpec, TrainSpec
from lamina.data.prepare import Prepared, Split
from lamina.device import resolve_device
from lamina.nn.build import build_model
from lamina.nn.outputs import model_outputs
from lamina.train.augmenting import Augmentation
from lamina.train.loop import fit
from lamina.transfer.setup import plan_training


def per_class_rows(labels: torch.Tensor, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` random row indices of each class (for training) and all the other rows (for testing)."""
    rng = np.random.default_rng(seed)
    y = labels.cpu().numpy().reshape(-1)
    picked = np.concatenate([rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c in np.unique(y)])
    rest = np.setdiff1d(np.arange(len(y)), picked)
    return np.sort(picked), rest


def subset(split: Split, rows: np.ndarray) -> Split:
    """The rows ``rows`` of a split."""
    index = torch.as_tensor(rows)
    return Split(split.x[index], split.y[index], split.rows[rows])


def few_shot_data(data: Prepared, k: int, seed: int) -> Prepared:
    """Train on ``k`` examples per class of ``data.train``, test on every other row; no validation split."""
    picked, rest = per_class_rows(data.train.y, k, seed)
    empty = subset(data.train, np.array([], dtype=np.int64))
    return Prepared(subset(data.train, picked), empty, subset(data.train, rest), data.preprocessor, data.source)


def few_shot_accuracy(model: ModelSpec, train: TrainSpec, data: Prepared, seed: int) -> float:
    """Build ``model`` (a backbone one loads its pretrained weights), train it on ``data.train`` (with
    ``train.augment`` when set), return the accuracy on ``data.test``. No run folder is written."""
    torch.manual_seed(seed)
    spec = RunSpec(data={"dataset": "digits"}, model=model.model_copy(deep=True), train=train, seed=seed)
    built = build_model(spec.model, data.input_shape, data.n_outputs)
    device = resolve_device(train.device)
    plan = plan_training(built.model, spec, data, device)
    callbacks = plan.callbacks + ([Augmentation(train.augment, seed)] if train.augment else [])
    fit(plan.model, plan.data, train, callbacks, device, seed=seed, groups=plan.groups)
    outputs = model_outputs(built.model, data.test.x, 512, device)  # (N, classes)
    return float((outputs.argmax(dim=1) == data.test.y.reshape(-1)).float().mean())
