"""Training loop for autoencoders: plain, denoising and variational.

    for epoch:
        for batch x:
            input = x (+ Gaussian noise of std ``noise`` for a denoising AE, target stays x)
            reconstruction (mu, logvar for a VAE) -> loss -> backward -> step
        validation loss on clean inputs -> logs -> callbacks' on_epoch_end

The loss is the mean squared reconstruction error; a VAE adds ``beta`` times the
KL divergence of its posterior from N(0, I), per input value so the two terms
keep their balance whatever the image size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from lamina.nn.models.autoencoder import AutoEncoder
from lamina.train.callbacks import Callback, StopTraining


@dataclass
class LoopState:
    """What progress callbacks read: the counters and the last epoch's logs (``history`` holds them all)."""

    epochs: int
    steps_per_epoch: int
    epoch: int = 0
    batch: int = 0
    logs: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)  # per-step losses, where a loop records them
    stopped_early: bool = False
    stop_reason: str = ""


def emit(callbacks: list[Callback], event: str, state: LoopState) -> None:
    """Call ``event`` on every callback (the loops here emit train start/end, epoch start/end, batch end)."""
    for callback in callbacks:
        getattr(callback, event)(state)


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffled index batches covering ``n`` rows once."""
    order = torch.randperm(n, generator=generator)
    return list(order.split(batch_size))


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
        return F.mse_loss(model(x), target)
    mu, logvar = model.posterior(x)
    logits = model.decoder(model.reparameterize(mu, logvar))  # (B, *input_shape), before the sigmoid
    if model.bounded:
        likelihood = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    else:
        likelihood = F.mse_loss(logits, target, reduction="sum")
    return (likelihood / len(x) + beta * kl_divergence(mu, logvar)) / target[0].numel()


@torch.no_grad()
def reconstruction_errors(model: AutoEncoder, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Per-sample mean squared reconstruction error (B,), in eval mode (a VAE decodes its mean code)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for chunk in x.split(batch_size):
        chunk = chunk.to(device)
        recon = model(chunk)
        recon = recon[0] if model.variational else recon
        out.append((recon - chunk).pow(2).flatten(1).mean(dim=1).cpu())
    return torch.cat(out) if out else torch.empty(0)


def fit_autoencoder(model: AutoEncoder, train_x: torch.Tensor, val_x: torch.Tensor, epochs: int, batch_size: int,
                    lr: float, noise: float = 0.0, beta: float = 1.0, seed: int = 0,
                    callbacks: list[Callback] | None = None, device: torch.device | None = None) -> LoopState:
    """Train ``model`` to reconstruct ``train_x`` (from noisy copies when ``noise`` > 0); returns the loop state."""
    device = device or torch.device("cpu")
    model.to(device)
    callbacks = callbacks or []
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state = LoopState(epochs, -(-len(train_x) // batch_size))
    emit(callbacks, "on_train_start", state)
    try:
        for epoch in range(epochs):
            state.epoch, state.batch = epoch, 0
            emit(callbacks, "on_epoch_start", state)
            model.train()
            total = 0.0
            for index in batches(len(train_x), batch_size, generator):
                x = train_x[index].to(device)
                noisy = x + noise * torch.randn(x.shape, generator=generator).to(device) if noise else x
                loss = reconstruction_loss(model, noisy, x, beta)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(index)
                state.batch += 1
                emit(callbacks, "on_batch_end", state)
            state.logs = {"epoch": epoch + 1, "train_loss": total / len(train_x)}
            if len(val_x):
                state.logs["val_mse"] = float(reconstruction_errors(model, val_x).mean())
            state.history.append(state.logs)
            emit(callbacks, "on_epoch_end", state)
    except StopTraining as stop:
        state.stopped_early, state.stop_reason = True, str(stop)
    finally:
        emit(callbacks, "on_train_end", state)
    return state
