"""The adversarial step: a discriminator update, then a generator update, per batch (run by ``fit``).

    per batch of real x:
        fake = G(z)                         (z from torch's global generator, which checkpoints save)
        D update: loss_D(D(x), D(fake.detach()))  (real targets smoothed to 1 - label_smoothing)
        G update: loss_G(D(fake))
    the batch's (d_loss, g_loss) is logged; the epoch's means are d_loss and g_loss, train_loss their sum

Losses: ``nonsaturating`` (D: binary cross-entropy; G maximizes log D(G(z)), which keeps
gradients alive early when D wins easily) or ``hinge`` (D: relu(1 - D(x)) + relu(1 + D(G(z)));
G: -D(G(z))).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from lamina.errors import ConfigError
from lamina.nn.models.gan import GAN
from lamina.train.steps import Step

if TYPE_CHECKING:
    from lamina.train.loop import State

GAN_LOSSES = ("nonsaturating", "hinge")


def discriminator_loss(real: torch.Tensor, fake: torch.Tensor, kind: str, smoothing: float) -> torch.Tensor:
    """D's loss on real and fake logits (B,); one-sided label smoothing lowers the real target."""
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, 1.0 - smoothing))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def generator_loss(fake: torch.Tensor, kind: str) -> torch.Tensor:
    """G's loss on D's logits for its samples (B,)."""
    if kind == "hinge":
        return -fake.mean()
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))  # non-saturating: -log D(G(z))


class Adversarial(Step):
    """One GAN batch: ``state.update`` twice, the discriminator's loss first; ``yb`` is unused."""

    loss_names = ("d_loss", "g_loss")

    def __init__(self, loss: str = "nonsaturating", label_smoothing: float = 0.1) -> None:
        if loss not in GAN_LOSSES:
            raise ConfigError(f"generative.gan_loss must be one of {', '.join(GAN_LOSSES)}; got {loss!r}")
        self.loss, self.smoothing = loss, label_smoothing

    def parameters(self, model: GAN, groups: list[dict[str, Any]] | None) -> dict[str, Any]:
        return {"discriminator": list(model.discriminator.parameters()),
                "generator": list(model.generator.parameters())}

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        real = batch[0]
        g, d = state.model.generator, state.model.discriminator
        z = torch.randn(len(real), g.noise, device=real.device)
        with state.autocast:
            fake = g(z)
            d_loss = discriminator_loss(d(real).float(), d(fake.detach()).float(), self.loss, self.smoothing)
        state.update(d_loss, "discriminator")
        with state.autocast:
            g_loss = generator_loss(d(fake).float(), self.loss)
        state.update(g_loss, "generator")
        return torch.stack([d_loss.detach(), g_loss.detach()])
