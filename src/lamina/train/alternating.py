"""The GAN's alternating loop: a discriminator step, then a generator step, per batch.

    for epoch:
        for batch of real x:
            fake = G(z)
            D step: loss_D(D(x), D(fake.detach()))  (real targets smoothed to 1 - label_smoothing)
            G step: loss_G(D(fake))
            per-step d_loss and g_loss recorded
        logs (mean D and G losses) -> callbacks' on_epoch_end (the coverage monitor may warn)

Losses: ``nonsaturating`` (D: binary cross-entropy; G maximizes log D(G(z)), which keeps
gradients alive early when D wins easily) or ``hinge`` (D: relu(1 - D(x)) + relu(1 + D(G(z)));
G: -D(G(z))).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lamina.errors import ConfigError
from lamina.nn.models.gan import GAN
from lamina.train.callbacks import Callback, StopTraining
from lamina.train.reconstruction import LoopState, batches, emit

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


def fit_gan(gan: GAN, train_x: torch.Tensor, epochs: int, batch_size: int, lr: float, loss: str = "nonsaturating",
            label_smoothing: float = 0.1, seed: int = 0, callbacks: list[Callback] | None = None,
            device: torch.device | None = None) -> LoopState:
    """Train ``gan`` on ``train_x``; ``state.history`` holds per-epoch means, ``state.steps`` per-step losses."""
    if loss not in GAN_LOSSES:
        raise ConfigError(f"generative.gan_loss must be one of {', '.join(GAN_LOSSES)}; got {loss!r}")
    device = device or torch.device("cpu")
    gan.to(device)
    callbacks = callbacks or []
    generator = torch.Generator().manual_seed(seed)
    g, d = gan.generator, gan.discriminator
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))  # DCGAN's momentum setting
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    state = LoopState(epochs, -(-len(train_x) // batch_size))
    emit(callbacks, "on_train_start", state)
    try:
        for epoch in range(epochs):
            state.epoch, state.batch = epoch, 0
            emit(callbacks, "on_epoch_start", state)
            g.train()
            d.train()
            for index in batches(len(train_x), batch_size, generator):
                real = train_x[index].to(device)
                fake = g(torch.randn(len(real), g.noise, generator=generator).to(device))
                d_loss = discriminator_loss(d(real), d(fake.detach()), loss, label_smoothing)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                g_loss = generator_loss(d(fake), loss)
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                state.steps.append({"step": len(state.steps) + 1, "d_loss": float(d_loss.detach()),
                                    "g_loss": float(g_loss.detach())})
                state.batch += 1
                emit(callbacks, "on_batch_end", state)
            recent = state.steps[-state.batch:]
            state.logs = {"epoch": epoch + 1, "d_loss": sum(s["d_loss"] for s in recent) / len(recent),
                          "g_loss": sum(s["g_loss"] for s in recent) / len(recent)}
            state.history.append(state.logs)
            emit(callbacks, "on_epoch_end", state)
    except StopTraining as stop:
        state.stopped_early, state.stop_reason = True, str(stop)
    finally:
        emit(callbacks, "on_train_end", state)
    return state
