"""Autoencoders: plain, denoising and variational, dense or convolutional, with an encode/decode API.

A plain and a denoising autoencoder are the same network; denoising differs
only in training (noisy input, clean target; see lamina.train.reconstruction).
A variational one encodes to a mean and a log-variance and samples a code with
the reparameterization trick, so gradients flow through the sampling step.
Outputs pass through a sigmoid when ``bounded`` (inputs min-max scaled to [0, 1]).
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.errors import ConfigError

KINDS = ("dense", "conv")


def check_image(shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    """(C, H, W) of an image input whose sides halve twice; a clear error otherwise."""
    if len(shape) != 3 or shape[1] % 4 or shape[2] % 4:
        raise ConfigError(f"a convolutional {what} needs image inputs (channels, height, width) with height and "
                          f"width divisible by 4; got input shape {tuple(shape)}. Use kind 'dense' instead")
    return shape[0], shape[1], shape[2]


def conv_encoder(shape: tuple[int, int, int], width: int, out: int) -> nn.Sequential:
    """Two stride-2 convolutions then a dense layer: (B, C, H, W) -> (B, out)."""
    c, h, w = shape
    return nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),  # (B, 2w, H/2, W/2)
        nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),  # (B, 2w, H/4, W/4)
        nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), out),
    )


def conv_decoder(shape: tuple[int, int, int], width: int, latent: int, norm: bool = False) -> nn.Sequential:
    """A dense layer then two stride-2 transposed convolutions: (B, latent) -> (B, C, H, W), unbounded."""
    c, h, w = shape

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), *([nn.BatchNorm2d(cout)] if norm else []),
                nn.ReLU()]

    return nn.Sequential(
        nn.Linear(latent, 2 * width * (h // 4) * (w // 4)), nn.ReLU(),
        nn.Unflatten(1, (2 * width, h // 4, w // 4)),  # (B, 2w, H/4, W/4)
        *block(2 * width, 2 * width),  # (B, 2w, H/2, W/2)
        *block(2 * width, width),  # (B, w, H, W)
        nn.Conv2d(width, c, 3, padding=1),  # (B, C, H, W)
    )


def dense_encoder(shape: tuple[int, ...], width: int, out: int) -> nn.Sequential:
    """Flatten, two hidden layers (4w, 2w), then ``out`` units."""
    size = int(torch.tensor(shape).prod())
    return nn.Sequential(nn.Flatten(), nn.Linear(size, 4 * width), nn.ReLU(),
                         nn.Linear(4 * width, 2 * width), nn.ReLU(), nn.Linear(2 * width, out))


def dense_decoder(shape: tuple[int, ...], width: int, latent: int) -> nn.Sequential:
    """The dense encoder mirrored, reshaped back to the input shape (unbounded)."""
    size = int(torch.tensor(shape).prod())
    return nn.Sequential(nn.Linear(latent, 2 * width), nn.ReLU(), nn.Linear(2 * width, 4 * width), nn.ReLU(),
                         nn.Linear(4 * width, size), nn.Unflatten(1, tuple(shape)))


class AutoEncoder(nn.Module):
    """``encode`` maps inputs to latent codes, ``decode`` maps codes back; ``forward`` reconstructs.

    With ``variational``, ``encode`` returns the posterior mean (the code used for
    embeddings) and ``forward`` returns ``(reconstruction, mu, logvar)``.
    """

    def __init__(self, input_shape: tuple[int, ...], kind: str = "conv", latent: int = 8, width: int = 16,
                 variational: bool = False, bounded: bool = True) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"generative.kind must be one of {', '.join(KINDS)}; got {kind!r}")
        if latent < 1 or width < 1:
            raise ConfigError(f"generative.latent and generative.width must be positive; got {latent}, {width}")
        self.input_shape = tuple(input_shape)
        self.latent = latent
        self.variational = variational
        self.bounded = bounded
        out = 2 * latent if variational else latent
        if kind == "conv":
            image = check_image(self.input_shape, "autoencoder")
            self.encoder, self.decoder = conv_encoder(image, width, out), conv_decoder(image, width, latent)
        else:
            self.encoder = dense_encoder(self.input_shape, width, out)
            self.decoder = dense_decoder(self.input_shape, width, latent)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE's (mu, logvar) for ``x``, each (B, latent); logvar is clamped for stability."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes (B, latent): the posterior mean for a VAE."""
        return self.posterior(x)[0] if self.variational else self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Inputs reconstructed from codes (B, latent) -> (B, *input_shape)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.bounded else out

    def forward(self, x: torch.Tensor):
        """Reconstruction of ``x``; a VAE samples its code and also returns (mu, logvar)."""
        if not self.variational:
            return self.decode(self.encoder(x))
        mu, logvar = self.posterior(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps while training (differentiable in mu and sigma); the mean in eval mode."""
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new inputs decoded from the prior N(0, I) (meaningful for a VAE)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent, generator=generator).to(device)
        return self.decode(z)
