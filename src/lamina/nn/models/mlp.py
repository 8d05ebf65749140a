"""Multilayer perceptron preset: dense layers with an activation, optional batchnorm and dropout."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from lamina.nn.models.preset import ActivationOption, Chain, preset


class MLPOptions(ActivationOption):
    hidden: list[PositiveInt] = Field(default_factory=lambda: [128, 64])
    dropout: float = Field(0.0, ge=0, lt=1)
    batchnorm: bool = False


@preset("mlp", MLPOptions, {"data": {"dataset": "iris"}, "model": {"arch": "mlp", "hidden": [16]},
                               "train": {"epochs": 15, "batch_size": 16, "optimizer": {"lr": 0.01}}})
def mlp(o: MLPOptions, input_shape: tuple[int, ...], n_outputs: int) -> Chain:
    """Multilayer perceptron: [dense, (batchnorm), activation, (dropout)] per hidden size, then a dense head."""
    chain: Chain = ["flatten"] if len(input_shape) > 1 else []
    for units in o.hidden:
        chain.append({"dense": units})
        if o.batchnorm:
            chain.append("batchnorm")
        chain.append(o.activation)
        if o.dropout:
            chain.append({"dropout": o.dropout})
    chain.append({"dense": n_outputs})
    return chain
