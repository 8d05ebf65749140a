"""Turn a model spec into a torch module for a given input shape and output size."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lamina.config import ModelSpec
from lamina.errors import ShapeError
from lamina.nn.layers import LayerInfo, build_chain, count_params, parse_chain
from lamina.registry import INITIALIZERS, PRESETS


class ChainModel(nn.Module):
    """A built chain: ``layers`` run in order. Its state dict keys are ``layers.<i>.<param>``."""

    def __init__(self, layers: nn.Sequential, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.layers = layers
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(output_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (B, *input_shape) -> (B, *output_shape)


@dataclass
class Built:
    """A built model with the rows of its summary table."""

    model: ChainModel
    rows: list[LayerInfo]

    @property
    def params(self) -> int:
        """Trainable parameter count."""
        return count_params(self.model)


def chain_items(spec: ModelSpec, input_shape: tuple[int, ...], n_outputs: int | tuple[int, ...]) -> list:
    """The layer items a spec stands for: the chain itself, or what its preset makes."""
    if spec.layers is not None:
        return spec.layers
    preset = PRESETS.get(spec.arch, "model.arch")
    options = preset.options.model_validate(spec.preset_options())
    return preset.chain(options, tuple(input_shape), n_outputs)


def build_model(spec: ModelSpec, input_shape: tuple[int, ...], n_outputs: int | tuple[int, ...]) -> Built:
    """Build and initialize the model; the output must be ``(n_outputs,)`` for the task.

    ``n_outputs`` may be a whole output shape instead, such as (target length, vocabulary) for seq2seq.
    """
    wanted = tuple(n_outputs) if isinstance(n_outputs, tuple) else (n_outputs,)
    if spec.backbone is not None:
        from lamina.nn.backbone import backbone_chain

        items, path = backbone_chain(spec.backbone, spec.layers, tuple(input_shape), wanted[-1])
    else:
        path = "model.layers" if spec.layers is not None else f"model.arch '{spec.arch}' layers"
        items = chain_items(spec, input_shape, wanted[0] if len(wanted) == 1 else wanted)
    calls = parse_chain(items, path)
    layers, out_shape, rows = build_chain(calls, tuple(input_shape))
    if out_shape != wanted:
        raise ShapeError(
            f"{path}: the chain outputs shape {out_shape} but the task needs {wanted}; "
            f"end the chain with {{dense: {wanted[-1]}}}" + (" after a flatten layer" if len(out_shape) > 1 else "")
        )
    model = ChainModel(layers, tuple(input_shape), out_shape)
    INITIALIZERS.get(spec.init, "model.init")(model)
    return Built(model, rows)
