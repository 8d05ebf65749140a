"""The supervised step: inputs to outputs, one loss against the targets, the task's metrics on validation."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from lamina.data.prepare import Prepared, Split
from lamina.evaluate.metrics import resolve_epoch_metrics
from lamina.evaluate.scoring import score
from lamina.nn.outputs import model_outputs
from lamina.train.distributed import current_world, gather_rows, rank_slice
from lamina.train.losses import loss_for
from lamina.train.steps import Step

if TYPE_CHECKING:
    from lamina.train.loop import State


class Supervised(Step):
    """One forward pass, the configured loss (``train.loss``) against ``yb``, one update."""

    def start(self, state: State) -> None:
        state.loss_fn = loss_for(state.spec, state.data.task, state.data.train.y,
                                  state.data.preprocessor.target.classes)
        self.metric_names = resolve_epoch_metrics(state.spec.epoch_metrics, state.data.task)

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        xb, yb = batch
        with state.autocast:
            state.outputs = state.net(xb).float()
            loss = state.loss_fn(state.outputs, yb)
        state.update(loss)
        return loss

    def validate(self, state: State) -> dict[str, float]:
        return validate(state.model, state.data.val, state.loss_fn, state.data, self.metric_names,
                        state.spec.batch_size, state.device, state.autocast)


def validate(model: nn.Module, split: Split, loss_fn: Callable, data: Prepared, metric_names: list[str],
             batch_size: int, device: torch.device, autocast: Any = None) -> dict[str, float]:
    """Validation loss and the task's epoch metrics (``val_`` prefixed); empty when there is no val split."""
    if len(split) == 0:
        return {}
    mine = rank_slice(len(split), current_world())  # all rows in a single process
    outputs = gather_rows(model_outputs(model, split.x[mine], batch_size, device, autocast or nullcontext()))
    logs = {"val_loss": float(loss_fn(outputs, split.y))}
    scores = score(outputs, split.y, data.preprocessor.target, metric_names)
    logs.update({f"val_{k}": v for k, v in scores.items()})
    return logs
