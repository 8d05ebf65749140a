"""What a preset is: an options model and a function from options to a layer chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from lamina.errors import one_of
from lamina.registry import PRESETS

Chain = list[Any]


class Options(BaseModel):
    """Base of preset options: unknown options are errors."""

    model_config = ConfigDict(extra="forbid")


class ActivationOption(Options):
    """Options that name an activation layer."""

    activation: str = "relu"

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, name: str) -> str:
        from lamina.nn.layers import ACTIVATIONS

        if name not in ACTIVATIONS:
            raise ValueError(one_of("model.activation", name, ACTIVATIONS))
        return name


@dataclass(frozen=True)
class Preset:
    """A registered preset: ``chain(options, input_shape, n_outputs)`` returns layer items.

    ``example`` is a small run config (data and model sections) that the common
    test suite trains, so every preset is checked the same way.
    """

    name: str
    options: type[Options]
    chain: Callable[[Any, tuple[int, ...], int], Chain]
    doc: str
    example: dict[str, Any]


def preset(name: str, options: type[Options], example: dict[str, Any]
           ) -> Callable[[Callable[..., Chain]], Callable[..., Chain]]:
    """Register a chain-making function as the preset ``name``, with a small example config."""

    def decorate(fn: Callable[..., Chain]) -> Callable[..., Chain]:
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        PRESETS.add(name, Preset(name, options, fn, doc, example), doc)
        return fn

    return decorate
