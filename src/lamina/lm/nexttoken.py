"""The next-token step of a language model, run by :func:`lamina.train.loop.fit` in epochs of ``eval_every`` steps.

    per batch of random windows x (B, T) -> y (B, T), x shifted by one token:
        logits = GPT(x) (B, T, V) -> cross-entropy (float32) -> state.update(loss)
    per epoch: the validation loss on fixed windows (the same ones at every evaluation)

The windows come from :class:`WindowBatches`, a batch source of the loop's kind: its generator
is saved in checkpoints and re-wound on resume, so an interrupted run draws the same windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from lamina.data.batches import Resumable
from lamina.lm.corpus import random_windows
from lamina.nn.models.language import GPT
from lamina.train.steps import Step

if TYPE_CHECKING:
    from lamina.train.loop import State

EVAL_BATCH = 64  # windows per evaluation forward; larger batches fall out of the cache and run slower per token


def autocast_for(precision: str, device: str = "cpu") -> AbstractContextManager:
    """The context a forward pass runs in: autocast to bfloat16 or float16 as ``precision`` says, nothing for fp32."""
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device, dtype=low) if low is not None else nullcontext()


@torch.inference_mode()
def mean_loss(model: GPT, x: torch.Tensor, y: torch.Tensor, precision: str = "fp32") -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` over windows ``x`` -> ``y``, in eval mode."""
    was_training = model.training
    model.eval()
    device = model.embed.weight.device
    total = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, len(x), EVAL_BATCH):
        with autocast_for(precision, device.type):
            logits = model(x[start : start + EVAL_BATCH].to(device))  # (B, T, V)
        target = y[start : start + EVAL_BATCH].to(device)  # (B, T)
        total += F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), reduction="sum")
    model.train(was_training)
    return float(total) / y.numel()


class WindowBatches(Resumable):
    """``per_epoch`` batches of random training windows an epoch, drawn from a seeded generator of its own."""

    def __init__(self, ids: torch.Tensor, context: int, batch_size: int, per_epoch: int, seed: int,
                 device: torch.device) -> None:
        self.ids, self.context, self.batch_size, self.per_epoch, self.device = ids, context, batch_size, per_epoch, device
        self.generator = torch.Generator().manual_seed(seed)
        self.samples = per_epoch * batch_size  # windows an epoch (accumulation shares count them)

    def __len__(self) -> int:
        return self.per_epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        skip = self._start_epoch()
        for i in range(self.per_epoch):
            x, y = random_windows(self.ids, self.context, self.batch_size, self.generator)  # (B, T), (B, T)
            if i >= skip:  # a resumed epoch draws the windows already trained on, to keep the generator in step
                yield x.to(self.device), y.to(self.device)


class NextToken(Step):
    """One language-model batch: next-token cross-entropy of every window position; validates on fixed windows."""

    def __init__(self, val_x: torch.Tensor, val_y: torch.Tensor) -> None:
        self.val_x, self.val_y = val_x, val_y

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        x, y = batch
        with state.autocast:
            logits = state.net(x)  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        state.update(loss)
        return loss

    def validate(self, state: State) -> dict[str, float]:
        return {"step": (state.epoch + 1) * state.steps_per_epoch,  # batches trained on (train.steps counts them)
                "val_loss": mean_loss(state.model, self.val_x, self.val_y, state.spec.precision)}
