"""Loss functions by name; ``auto`` picks the one that fits the task.

``train.class_weight`` weights the classification losses per class: ``balanced``
gives each class n / (classes x its rows) of the training split (scikit-learn's
definition), so every class carries the same total weight; a mapping gives
chosen classes their own weight (the others keep 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lamina.config import TrainSpec
from lamina.errors import ConfigError, did_you_mean
from lamina.registry import LOSSES

SETTINGS = {"label_smoothing": ("cross_entropy", "token_cross_entropy", "bce"), "huber_delta": ("huber",)}  # who reads them
AUTO = {"multiclass": "cross_entropy", "binary": "bce", "regression": "mse", "seq2seq": "token_cross_entropy"}
FITS = {
    "token_cross_entropy": ("seq2seq",),
    "cross_entropy": ("multiclass",),
    "bce": ("binary",),
    "mse": ("regression",),
    "mae": ("regression",),
    "huber": ("regression",),
}


@LOSSES.register("cross_entropy")
def cross_entropy(logits: torch.Tensor, target: torch.Tensor, spec: TrainSpec,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax cross-entropy over class logits, with optional label smoothing and class weights."""
    return F.cross_entropy(logits, target, weight=weight, label_smoothing=spec.label_smoothing)


@LOSSES.register("token_cross_entropy")
def token_cross_entropy(logits: torch.Tensor, target: torch.Tensor, spec: TrainSpec) -> torch.Tensor:
    """Cross-entropy of next-token logits (B, T, V) against token ids (B, T), padding (id 0) ignored."""
    return F.cross_entropy(logits.flatten(0, 1), target.reshape(-1), ignore_index=0,
                           label_smoothing=spec.label_smoothing)


@LOSSES.register("bce")
def bce(logits: torch.Tensor, target: torch.Tensor, spec: TrainSpec, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy on one logit per sample (sigmoid inside, numerically stable).

    With class weights (negative, positive) each sample's loss is weighted by its class
    and the mean taken over the weights, as cross-entropy does.
    """
    rows = weight[target.round().long()] if weight is not None else None
    if spec.label_smoothing:
        target = target * (1 - spec.label_smoothing) + 0.5 * spec.label_smoothing
    if rows is None:
        return F.binary_cross_entropy_with_logits(logits, target)
    return (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * rows).sum() / rows.sum()


@LOSSES.register("mse")
def mse(pred: torch.Tensor, target: torch.Tensor, spec: TrainSpec) -> torch.Tensor:
    """Mean squared error."""
    return F.mse_loss(pred, target)


@LOSSES.register("mae")
def mae(pred: torch.Tensor, target: torch.Tensor, spec: TrainSpec) -> torch.Tensor:
    """Mean absolute error (L1): robust to outliers in the target."""
    return F.l1_loss(pred, target)


@LOSSES.register("huber")
def huber(pred: torch.Tensor, target: torch.Tensor, spec: TrainSpec) -> torch.Tensor:
    """Huber loss: squared near zero, linear beyond ``train.huber_delta``."""
    return F.huber_loss(pred, target, delta=spec.huber_delta)


def loss_for(spec: TrainSpec, task: str, labels: torch.Tensor | None = None, classes: list[str] | None = None):
    """The loss function for ``spec.loss`` (or the task's default), checked against the task.

    ``labels`` (the training split's encoded targets) and ``classes`` (their names) size
    ``train.class_weight``; without them the loss is unweighted.
    """
    name = AUTO[task] if spec.loss == "auto" else spec.loss
    fn = LOSSES.get(name, "train.loss")
    if name in FITS and task not in FITS[name]:
        raise ConfigError(
            f"train.loss '{name}' does not fit a {task} task; use one of "
            + ", ".join(n for n, tasks in FITS.items() if task in tasks)
        )
    for field, users in SETTINGS.items():  # a setting the chosen loss would ignore is refused, not dropped
        if getattr(spec, field) != type(spec).model_fields[field].default and name not in users:
            raise ConfigError(f"train.{field} applies to the {' and '.join(users)} loss only; this run's loss is "
                              f"'{name}' (train.loss, or the {task} task's default): remove train.{field}")
    weight = class_weights(spec, task, labels, classes) if labels is not None else None
    if weight is not None:
        return lambda output, target: fn(output, target, spec, weight.to(output.device))
    return lambda output, target: fn(output, target, spec)


def class_weights(spec: TrainSpec, task: str, labels: torch.Tensor, classes: list[str] | None) -> torch.Tensor | None:
    """One weight per class for ``train.class_weight`` (None when unset); see the module docstring."""
    if spec.class_weight is None:
        return None
    if task not in ("binary", "multiclass"):
        raise ConfigError(f"train.class_weight needs a classification task (binary or multiclass); got {task}")
    names = list(classes or [])
    counts = torch.bincount(labels.reshape(-1).round().long(), minlength=len(names)).double()
    if spec.class_weight == "balanced":
        return (counts.sum() / (len(names) * counts.clamp(min=1))).float()
    weight = torch.ones(len(names))
    for name, value in spec.class_weight.items():
        if str(name) not in names:
            raise ConfigError(f"train.class_weight names class {name!r}, which the target does not have."
                              f"{did_you_mean(str(name), names)} Classes: {', '.join(names)}")
        weight[names.index(str(name))] = value
    return weight
