"""Model families that are not layer-chain presets (autoencoder, VAE, GAN, U-Net, GPT, reward model), in one registry.

Presets (``lamina.registry.PRESETS``) cover the models a layer chain describes; the families here are
``nn.Module`` classes of their own, trained by their own command. Each entry says how it is trained and
builds a small example with a batch of inputs, so ``lamina info`` lists it and the common test suite
(tests/nn/test_families.py) checks every one the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lamina.registry import FAMILIES


@dataclass(frozen=True)
class Example:
    """A small model of the family, a batch it takes, and the shape of its (first) output for that batch."""

    model: nn.Module
    inputs: torch.Tensor
    output_shape: tuple[int, ...]
    outputs: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None  # how to run it, when not model(inputs)

    def run(self) -> torch.Tensor:
        """The model's (first) output for the example's inputs."""
        out = self.outputs(self.model, self.inputs) if self.outputs else self.model(self.inputs)
        return out[0] if isinstance(out, tuple) else out


@dataclass(frozen=True)
class Family:
    """A registered model family: what it is, how lamina trains it, and a small example of it."""

    name: str
    doc: str
    trained_by: str
    example: Callable[[], Example]


def family(name: str, doc: str, trained_by: str) -> Callable[[Callable[[], Example]], Callable[[], Example]]:
    """Register the example-making function of the family ``name``."""

    def decorate(example: Callable[[], Example]) -> Callable[[], Example]:
        FAMILIES.add(name, Family(name, doc, trained_by, example), f"{doc} ({trained_by})")
        return example

    return decorate
