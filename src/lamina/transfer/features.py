"""Feature extraction: run a frozen backbone once over every split and train only the head on the result."""

from __future__ import annotations

import torch
from torch import nn

from lamina.data.prepare import Prepared, Split

FEATURE_BATCH = 512


class HeadOnFeatures(nn.Module):
    """The head of a backbone model, fed with cached backbone features.

    It shares the whole model's ``layers`` (so its state dict, checkpoints and best-weight restores
    are the full model's) but its forward runs only the layers from ``start`` on.
    """

    def __init__(self, layers: nn.Sequential, start: int) -> None:
        super().__init__()
        self.layers = layers
        self.start = start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(self.start, len(self.layers)):
            x = self.layers[index](x)  # (B, features) -> ... -> (B, outputs)
        return x


@torch.no_grad()
def backbone_features(layers: nn.Sequential, count: int, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The first ``count`` layers' outputs for ``x`` (eval mode, in chunks), kept on the CPU."""
    was_training = layers.training
    layers.eval()
    chunks = []
    for start in range(0, len(x), FEATURE_BATCH):
        out = x[start : start + FEATURE_BATCH].to(device)
        for index in range(count):
            out = layers[index](out)
        chunks.append(out.float().cpu())
    layers.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0)


def cached_features(layers: nn.Sequential, count: int, data: Prepared, device: torch.device) -> Prepared:
    """``data`` with every split's inputs replaced by the backbone's features, computed once."""

    def convert(split: Split) -> Split:
        if len(split) == 0:
            return split
        return Split(backbone_features(layers, count, split.x, device), split.y, split.rows)

    return Prepared(convert(data.train), convert(data.val), convert(data.test), data.preprocessor, data.source)
