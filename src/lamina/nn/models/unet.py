"""A small U-Net for per-pixel classification (segmentation).

Two downsampling stages and a bottleneck, then two upsampling stages that
concatenate the encoder's feature maps of the same size (skip connections),
so fine spatial detail survives the bottleneck. Output: class logits per
pixel, (B, classes, H, W).
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.errors import ConfigError


def double_conv(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 convolutions, each with batch norm and ReLU; the spatial size is kept."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """(B, C, H, W) images -> (B, classes, H, W) logits; H and W must be divisible by 4."""

    def __init__(self, input_shape: tuple[int, ...], classes: int, width: int = 16) -> None:
        super().__init__()
        if len(input_shape) != 3 or input_shape[1] % 4 or input_shape[2] % 4:
            raise ConfigError(f"a U-Net needs image inputs (channels, height, width) with height and width "
                              f"divisible by 4; got input shape {tuple(input_shape)}")
        if classes < 2:
            raise ConfigError(f"a U-Net needs at least 2 classes (background and one more); got {classes}")
        c, w = input_shape[0], width
        self.input_shape, self.classes = tuple(input_shape), classes
        self.down1, self.down2 = double_conv(c, w), double_conv(w, 2 * w)
        self.bottom = double_conv(2 * w, 4 * w)
        self.up2, self.merge2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), double_conv(4 * w, 2 * w)
        self.up1, self.merge1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), double_conv(2 * w, w)
        self.head = nn.Conv2d(w, classes, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class logits for images ``x``."""
        d1 = self.down1(x)  # (B, w, H, W)
        d2 = self.down2(self.pool(d1))  # (B, 2w, H/2, W/2)
        b = self.bottom(self.pool(d2))  # (B, 4w, H/4, W/4)
        u2 = self.merge2(torch.cat([self.up2(b), d2], dim=1))  # (B, 2w, H/2, W/2)
        u1 = self.merge1(torch.cat([self.up1(u2), d1], dim=1))  # (B, w, H, W)
        return self.head(u1)  # (B, classes, H, W)
