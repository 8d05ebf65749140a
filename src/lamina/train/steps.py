"""What one batch means for a model family: the ``Step`` that :func:`lamina.train.loop.fit` runs.

A step names its optimizers (their parameters, in update order), trains on one
batch by computing its losses and handing each to ``state.update(loss, name)``
(the only way an optimizer steps), and validates after each epoch. Everything
else (batching, precision, accumulation, the finite check, clipping, schedules,
events, checkpoints) is the loop's, so it holds for every family at once; as
Keras lets a model override ``train_step``, a family overrides these few methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from lamina.train.loop import State


class Step(ABC):
    """Base class of the per-family steps; ``train_step`` is the one method a family must write."""

    loss_names: tuple[str, ...] = ("train_loss",)  # what train_step returns: one loss, or one value per name

    def parameters(self, model: nn.Module, groups: list[dict[str, Any]] | None) -> dict[str, Any]:
        """Each optimizer's parameters (or parameter groups) by name, in update order: here one, 'main'."""
        return {"main": groups or list(model.parameters())}

    def start(self, state: State) -> None:
        """Prepare once, before training or a resume (e.g. set ``state.loss_fn``)."""

    @abstractmethod
    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        """Train on one batch through ``state.update``; return its loss (a tensor, one value per loss name)."""

    def validate(self, state: State) -> dict[str, float]:
        """The epoch's validation logs (``val_`` prefixed); empty when there is nothing to validate on."""
        return {}
