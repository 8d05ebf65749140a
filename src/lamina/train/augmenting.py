"""The callback that runs ``train.augment`` on every training batch (see lamina.data.augment)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from lamina.data.augment import Mix, augment, check_inputs, parse_pipeline
from lamina.train.callbacks import Callback

if TYPE_CHECKING:
    from lamina.train.loop import State


class Augmentation(Callback):
    """Replace each training batch by its augmented version; blend the loss over both labels after mixing.

    Validation and test data are never augmented. Random draws come from a generator on the
    training ``device``, seeded from the run's seed, so a run repeats; checkpoints save its
    state (see ``generators``), so a resumed run draws what an uninterrupted one would.
    """

    def __init__(self, items: list[Any], seed: int = 0, device: torch.device | str = "cpu") -> None:
        self.steps = parse_pipeline(items)
        self.seed = seed
        self.generator = torch.Generator(device=device).manual_seed(seed + 7919)
        self.mix: Mix | None = None

    def generators(self) -> dict[str, torch.Generator]:
        """The augmentation generator, saved in checkpoints."""
        return {"augment": self.generator}

    def on_train_start(self, state: State) -> None:
        """Check the steps fit the inputs; move the generator to the training device if it was made elsewhere."""
        check_inputs(self.steps, state.data.train.x[:1])
        if self.generator.device.type != state.device.type:
            self.generator = torch.Generator(device=state.device).manual_seed(self.seed + 7919)

    def on_batch_start(self, state: State) -> None:
        """Augment the batch in place of the original."""
        state.xb, self.mix = augment(self.steps, state.xb, self.generator)

    def on_loss(self, state: State) -> None:
        """After mixup or cutmix, the objective is ``lam * L(out, y) + (1 - lam) * L(out, y[pair])``."""
        if self.mix is None:
            return
        other = state.loss_fn(state.outputs, state.yb[self.mix.pair])
        blended = self.mix.lam * state.loss + (1 - self.mix.lam) * other
        state.objective = state.objective - state.loss + blended
