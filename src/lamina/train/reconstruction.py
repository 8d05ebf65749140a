"""The reconstruction step: autoencoders, plain, denoising and variational, trained by :func:`lamina.train.loop.fit`.

    per batch x:
        input = x (+ Gaussian noise of std ``noise`` for a denoising AE, target stays x)
        reconstruction (mu, logvar for a VAE) -> loss -> state.update(loss)
    per epoch: validation loss = mean squared reconstruction error of clean val inputs

The loss is the mean squared reconstruction error; a VAE adds ``beta`` times the
KL divergence of its posterior from N(0, I), per input value so the two terms
keep their balance whatever the image size. Noise and the VAE's samples come from
torch's global generator, which checkpoints save, so a resumed run repeats them.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from lamina.nn.models.autoencoder import AutoEncoder
from lamina.train.steps import Step

if TYPE_CHECKING:
    from lamina.train.loop import State


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent units, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()


def reconstruction_loss(model: AutoEncoder, x: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """MSE of the reconstruction; for a VAE the negative ELBO (beta-weighted KL) per input value.

    The VAE's likelihood term is the summed binary cross-entropy for bounded outputs
    (Bernoulli pixels in [0, 1]) or the summed squared error otherwise; against a mean
    squared error the KL term would swamp it and the posterior would collapse.
    """
    if not model.variational:
        return F.mse_loss(model(x).float(), target)
    mu, logvar = model.posterior(x)
    mu, logvar = mu.float(), logvar.float()
    logits = model.decoder(model.reparameterize(mu, logvar)).float()  # (B, *input_shape), before the sigmoid
    if model.bounded:
        likelihood = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    else:
        likelihood = F.mse_loss(logits, target, reduction="sum")
    return (likelihood / len(x) + beta * kl_divergence(mu, logvar)) / target[0].numel()


@torch.no_grad()
def reconstruction_errors(model: AutoEncoder, x: torch.Tensor, batch_size: int = 512,
                          autocast: Any = None) -> torch.Tensor:
    """Per-sample mean squared reconstruction error (B,), in eval mode (a VAE decodes its mean code)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for chunk in x.split(batch_size):
        chunk = chunk.to(device)
        with autocast or nullcontext():
            recon = model(chunk)
        recon = (recon[0] if model.variational else recon).float()
        out.append((recon - chunk).pow(2).flatten(1).mean(dim=1).cpu())
    return torch.cat(out) if out else torch.empty(0)


class Reconstruction(Step):
    """One batch of an autoencoder: inputs (noised for a denoising one) to themselves; ``yb`` is unused."""

    def __init__(self, noise: float = 0.0, beta: float = 1.0) -> None:
        self.noise, self.beta = noise, beta

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        x = batch[0]
        noisy = x + self.noise * torch.randn_like(x) if self.noise else x
        with state.autocast:
            loss = reconstruction_loss(state.model, noisy, x, self.beta)
        state.update(loss)
        return loss

    def validate(self, state: State) -> dict[str, float]:
        val = state.data.val.x
        if not len(val):
            return {}
        errors = reconstruction_errors(state.model, val, state.spec.batch_size, state.autocast)
        return {"val_loss": float(errors.mean())}
