"""Image-to-sequence layers for vision transformers: patch embedding and a class token.

``patch_embedding`` cuts (C, H, W) into ``patch`` x ``patch`` squares and projects
each to ``dim`` features, giving a sequence (H/patch * W/patch, dim) that
Transformer blocks read. A ``stem`` of small convolutions before the cut lets
each patch see its neighbours (the hybrid ViT of Dosovitskiy et al. 2021; on
small images and little data it matters a lot). ``class_token`` prepends a
learned token whose final state summarises the image.
"""

from __future__ import annotations

import torch
from pydantic import Field, PositiveInt
from torch import nn

from lamina.errors import ShapeError
from lamina.nn.layers import Args, Shape, layer


class PatchArgs(Args):
    dim: int = Field(gt=0)
    patch: int = Field(2, gt=0)
    stem: list[PositiveInt] = Field(default_factory=list)


class PatchEmbedding(nn.Module):
    """(B, C, H, W) -> (B, patches, dim): optional conv stem, then one strided convolution per patch."""

    def __init__(self, channels: int, a: PatchArgs) -> None:
        super().__init__()
        stem: list[nn.Module] = []
        for width in a.stem:
            stem += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.GELU()]
            channels = width
        self.stem = nn.Sequential(*stem)
        self.project = nn.Conv2d(channels, a.dim, a.patch, stride=a.patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = self.project(self.stem(x))  # (B, dim, H/p, W/p)
        return grid.flatten(2).transpose(1, 2)  # (B, patches, dim)


class ClassToken(nn.Module):
    """Prepend one learned token: (B, T, C) -> (B, T + 1, C)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))  # (1, 1, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, T + 1, C)


@layer("patch_embedding", PatchArgs, primary="dim", ranks=(3,), example_input=(1, 8, 8),
       example_args={"dim": 8, "patch": 2})
def patch_embedding(shape: Shape, a: PatchArgs) -> nn.Module:
    """Cut an image (channels, height, width) into patches and embed each: -> (patches, dim)."""
    if shape[1] % a.patch or shape[2] % a.patch:
        raise ShapeError(f"patch_embedding: patch {a.patch} must divide the image size {shape[1]}x{shape[2]}")
    return PatchEmbedding(shape[0], a)


@layer("class_token", ranks=(2,), example_input=(6, 4))
def class_token(shape: Shape, a: Args) -> nn.Module:
    """Prepend a learned class token to a sequence (length, features) -> (length + 1, features)."""
    return ClassToken(shape[1])
