"""Freezing a backbone and releasing it gradually, with BatchNorm kept in eval mode while frozen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from lamina.train.callbacks import Callback

if TYPE_CHECKING:
    from lamina.train.loop import State


def frozen_layers(groups: list[list[int]], freeze: bool, unfreeze_every: int | None, epoch: int) -> list[int]:
    """The backbone layers frozen during ``epoch`` (0-based): none, all, or all but the top ``epoch // every`` groups."""
    if not freeze:
        return []
    released = 0 if unfreeze_every is None else epoch // unfreeze_every
    kept = groups[: max(0, len(groups) - released)]
    return [index for group in kept for index in group]


def set_frozen(layers: nn.Sequential, frozen: list[int], count: int) -> None:
    """Make the first ``count`` layers trainable except those in ``frozen`` (whose gradients stop)."""
    for index in range(count):
        for param in layers[index].parameters():
            param.requires_grad_(index not in frozen)


class Freezing(Callback):
    """Hold the backbone's frozen layers fixed: no gradients, and eval mode (BatchNorm statistics unchanged,
    dropout off) even while the rest of the model trains. With ``unfreeze_every``, one more layer group from
    the top is released every that many epochs (gradual unfreezing).
    """

    def __init__(self, groups: list[list[int]], freeze: bool, unfreeze_every: int | None) -> None:
        self.groups, self.freeze, self.unfreeze_every = groups, freeze, unfreeze_every
        self.count = sum(len(g) for g in groups)
        self.frozen: list[nn.Module] = []

    def on_epoch_start(self, state: State) -> None:
        """Decide this epoch's frozen layers and switch their gradients off."""
        frozen = frozen_layers(self.groups, self.freeze, self.unfreeze_every, state.epoch)
        set_frozen(state.model.layers, frozen, self.count)
        self.frozen = [state.model.layers[i] for i in frozen]

    def on_batch_start(self, state: State) -> None:
        """Keep frozen layers in eval mode (the loop puts the whole model in train mode each epoch)."""
        for module in self.frozen:
            if module.training:
                module.eval()
