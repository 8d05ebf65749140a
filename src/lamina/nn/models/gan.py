"""GAN generator and discriminator presets: dense, or DCGAN-style convolutional.

The generator maps noise (B, noise) to inputs (B, *input_shape) in [0, 1]
(sigmoid; inputs min-max scaled) and the discriminator maps inputs to one
logit each (B,). DCGAN style: strided (transposed) convolutions, batch norm
in the generator, leaky ReLU in the discriminator, no pooling.

``minibatch_std`` (Karras et al. 2018, a remedy for mode collapse) gives the
discriminator one extra feature after its first layer: the spread of that
layer's features across the batch. A generator that makes the same sample for
every noise has a spread near zero, which real batches never have, so D can
call the collapse out and G is pushed to vary its samples.
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.errors import ConfigError
from lamina.nn.models.autoencoder import KINDS, check_image, conv_decoder


class Generator(nn.Module):
    """Noise (B, noise) -> samples (B, *shape) in [0, 1]."""

    def __init__(self, shape: tuple[int, ...], kind: str = "dense", noise: int = 16, width: int = 32) -> None:
        super().__init__()
        self.shape, self.noise = tuple(shape), noise
        if kind == "conv":
            self.net = conv_decoder(check_image(self.shape, "GAN"), width, noise, norm=True)
        else:
            size = int(torch.tensor(shape).prod())
            self.net = nn.Sequential(nn.Linear(noise, 4 * width), nn.BatchNorm1d(4 * width), nn.ReLU(),
                                     nn.Linear(4 * width, 8 * width), nn.BatchNorm1d(8 * width), nn.ReLU(),
                                     nn.Linear(8 * width, size), nn.Unflatten(1, self.shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Samples for noise ``z`` (B, noise)."""
        return torch.sigmoid(self.net(z))  # (B, *shape)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples from fresh noise, in eval mode (batch norm uses its running statistics)."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = self(torch.randn(n, self.noise, generator=generator).to(device))
        self.train(was_training)
        return out


class MinibatchStd(nn.Module):
    """Appends the batch's mean feature standard deviation as one more channel (B, C, ...) -> (B, C + 1, ...)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with a constant extra channel: how much its samples differ from each other."""
        spread = x.std(dim=0, unbiased=False).mean()  # one number for the whole batch
        extra = spread.expand(x.shape[0], 1, *x.shape[2:])  # (B, 1, ...)
        return torch.cat([x, extra], dim=1)


class Discriminator(nn.Module):
    """Samples (B, *shape) -> one real-vs-fake logit each (B,)."""

    def __init__(self, shape: tuple[int, ...], kind: str = "dense", width: int = 32, minibatch_std: bool = False
                 ) -> None:
        super().__init__()
        extra = int(minibatch_std)
        spread = [MinibatchStd()] if minibatch_std else []
        if kind == "conv":
            c, h, w = check_image(tuple(shape), "GAN")
            self.net = nn.Sequential(
                nn.Conv2d(c, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2), *spread,  # (B, w [+1], H/2, W/2)
                nn.Conv2d(width + extra, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),  # (B, 2w, H/4, W/4)
                nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), 1))
        else:
            size = int(torch.tensor(shape).prod())
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(size, 8 * width), nn.LeakyReLU(0.2), *spread,
                                     nn.Linear(8 * width + extra, 4 * width), nn.LeakyReLU(0.2),
                                     nn.Linear(4 * width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One real-vs-fake logit per sample."""
        return self.net(x).squeeze(1)  # (B,)


class GAN(nn.Module):
    """A generator and its discriminator, saved and loaded together (keys ``generator.*``, ``discriminator.*``)."""

    def __init__(self, shape: tuple[int, ...], kind: str = "dense", noise: int = 16, width: int = 32,
                 minibatch_std: bool = False) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"generative.kind must be one of {', '.join(KINDS)}; got {kind!r}")
        self.generator = Generator(shape, kind, noise, width)
        self.discriminator = Discriminator(shape, kind, width, minibatch_std)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generated samples (B, *shape)."""
        return self.generator.sample(n, generator)
