"""Metrics by task, computed with torchmetrics' functional API.

Classification metrics take probabilities (softmax for multiclass, sigmoid for
binary) and integer targets; regression metrics take values in the target's
own units (the run's target scaling undone), so numbers mean what they say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lamina.errors import ConfigError
from lamina.registry import METRICS

CLASSIFICATION = ("binary", "multiclass")


@dataclass(frozen=True)
class Metric:
    """A metric: the tasks it applies to and ``fn(preds, target, n_classes, task) -> value``."""

    tasks: tuple[str, ...]
    fn: Callable[[torch.Tensor, torch.Tensor, int, str], Any]
    higher_is_better: bool
    doc: str


def metric(name: str, tasks: tuple[str, ...], higher_is_better: bool):
    """Register a metric function under ``name``."""

    def decorate(fn):
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        METRICS.add(name, Metric(tasks, fn, higher_is_better, doc), doc)
        return fn

    return decorate


def _cls_args(task: str, n_classes: int) -> dict[str, Any]:
    return {"task": "binary"} if task == "binary" else {"task": "multiclass", "num_classes": n_classes}


@metric("accuracy", CLASSIFICATION, True)
def accuracy(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Fraction of samples whose predicted class is right."""
    from torchmetrics.functional import accuracy as tm_accuracy

    return float(tm_accuracy(p, t, average="micro", **_cls_args(task, k)))


@metric("precision", CLASSIFICATION, True)
def precision(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Macro-averaged precision (binary: of the positive class)."""
    from torchmetrics.functional import precision as tm_precision

    return float(tm_precision(p, t, average="macro", **_cls_args(task, k)))


@metric("recall", CLASSIFICATION, True)
def recall(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Macro-averaged recall (binary: of the positive class)."""
    from torchmetrics.functional import recall as tm_recall

    return float(tm_recall(p, t, average="macro", **_cls_args(task, k)))


@metric("balanced_accuracy", CLASSIFICATION, True)
def balanced_accuracy(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Mean of the per-class recalls: each class counts the same, however few its samples."""
    from torchmetrics.functional import recall as tm_recall

    if task == "binary":
        return float(tm_recall((p >= 0.5).long(), t.long(), task="multiclass", num_classes=2, average="macro"))
    return float(tm_recall(p, t.long(), task="multiclass", num_classes=k, average="macro"))


@metric("f1", CLASSIFICATION, True)
def f1(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Macro-averaged F1 score (binary: of the positive class)."""
    from torchmetrics.functional import f1_score

    return float(f1_score(p, t, average="macro", **_cls_args(task, k)))


@metric("confusion_matrix", CLASSIFICATION, False)
def confusion_matrix(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> list[list[int]]:
    """Counts of (true class row, predicted class column)."""
    from torchmetrics.functional import confusion_matrix as tm_confusion

    return tm_confusion(p, t, **_cls_args(task, k)).tolist()


@metric("mse", ("regression",), False)
def mse(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Mean squared error in the target's units."""
    from torchmetrics.functional import mean_squared_error

    return float(mean_squared_error(p, t))


@metric("mae", ("regression",), False)
def mae(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Mean absolute error in the target's units."""
    from torchmetrics.functional import mean_absolute_error

    return float(mean_absolute_error(p, t))


@metric("r2", ("regression",), True)
def r2(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Coefficient of determination (1 is perfect, 0 is the mean predictor), averaged over outputs."""
    from torchmetrics.functional import r2_score

    return float(r2_score(p, t, multioutput="uniform_average")) if len(t) > 1 else float("nan")


EPOCH_METRICS = {"binary": ["accuracy"], "multiclass": ["accuracy"], "regression": ["mse"], "seq2seq": ["token_accuracy"]}
REPORT_METRICS = {
    "binary": ["accuracy", "precision", "recall", "f1", "confusion_matrix"],
    "multiclass": ["accuracy", "precision", "recall", "f1", "confusion_matrix"],
    "regression": ["mse", "mae", "r2"],
    "seq2seq": ["token_accuracy", "exact_match"],
}


def resolve_metrics(names: list[str] | str, task: str, field: str = "eval.metrics") -> list[str]:
    """The metric names to report for ``task`` ('auto' = the task's standard set), checked to fit it."""
    if names == "auto":
        return list(REPORT_METRICS[task])
    for name in names:
        if task not in METRICS.get(name, field).tasks:
            raise ConfigError(f"{field} '{name}' does not apply to a {task} task")
    return list(names)


def resolve_epoch_metrics(names: list[str] | str, task: str) -> list[str]:
    """Metrics computed on the validation split every epoch ('auto': accuracy, or mse; kept cheap)."""
    if names == "auto":
        return list(EPOCH_METRICS[task])
    if "confusion_matrix" in names:
        raise ConfigError("train.epoch_metrics cannot include confusion_matrix (epoch logs hold numbers only)")
    return resolve_metrics(names, task, "train.epoch_metrics")


def outputs_to_preds(outputs: torch.Tensor, task: str) -> torch.Tensor:
    """Model outputs as what metrics take: class probabilities, token ids (seq2seq), or the raw (scaled) values."""
    if task == "seq2seq":
        return outputs.argmax(dim=-1) if outputs.is_floating_point() else outputs  # (N, T) ids
    if task == "multiclass":
        return outputs.float().softmax(dim=1)  # (N, K)
    if task == "binary":
        return outputs.float().sigmoid().reshape(-1)  # (N,)
    return outputs.float()


def compute_metrics(names: list[str], task: str, preds: torch.Tensor, target: torch.Tensor, n_classes: int
                    ) -> dict[str, Any]:
    """Compute each named metric. ``preds`` come from :func:`outputs_to_preds` (regression: in target units)."""
    if task == "binary":
        target = target.reshape(-1).long()
    return {name: METRICS.get(name).fn(preds, target, n_classes, task) for name in names}


def higher_is_better(monitor: str) -> bool:
    """Whether a logged quantity such as ``val_accuracy`` or ``val_loss`` improves upward."""
    base = monitor.split("_", 1)[1] if monitor.startswith(("val_", "train_")) else monitor
    return base in METRICS and METRICS.get(base).higher_is_better
