"""Loss functions by name; ``auto`` picks the one that fits the task."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lamina.config import TrainSpec
from lamina.errors import ConfigError
from lamina.registry import LOSSES

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
def cross_entropy(logits: torch.Tensor, target: torch.Tensor, spec: TrainSpec) -> torch.Tensor:
    """Softmax cross-entropy over class logits, with optional label smoothing."""
    return F.cross_entropy(logits, target, label_smoothing=spec.label_smoothing)


@LOSSES.register("token_cross_entropy")
def token_cross_entropy(logits: torch.Tensor, target: torch.Tensor, spec: TrainSpec) -> torch.Tensor:
    """Cross-entropy of next-token logits (B, T, V) against token ids (B, T), padding (id 0) ignored."""
    return F.cross_entropy(logits.flatten(0, 1), target.reshape(-1), ignore_index=0,
                           label_smoothing=spec.label_smoothing)


@LOSSES.register("bce")
def bce(logits: torch.Tensor, target: torch.Tensor, spec: TrainSpec) -> torch.Tensor:
    """Binary cross-entropy on one logit per sample (sigmoid inside, numerically stable)."""
    if spec.label_smoothing:
        target = target * (1 - spec.label_smoothing) + 0.5 * spec.label_smoothing
    return F.binary_cross_entropy_with_logits(logits, target)


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


def loss_for(spec: TrainSpec, task: str):
    """The loss function for ``spec.loss`` (or the task's default), checked against the task."""
    name = AUTO[task] if spec.loss == "auto" else spec.loss
    fn = LOSSES.get(name, "train.loss")
    if name in FITS and task not in FITS[name]:
        raise ConfigError(
            f"train.loss '{name}' does not fit a {task} task; use one of "
            + ", ".join(n for n, tasks in FITS.items() if task in tasks)
        )
    return lambda output, target: fn(output, target, spec)
