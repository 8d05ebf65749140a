"""Plain convolutional network preset: conv stages with pooling, then a dense head."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from lamina.errors import ShapeError
from lamina.nn.models.preset import ActivationOption, Chain, preset


class CNNOptions(ActivationOption):
    channels: list[PositiveInt] = Field(default_factory=lambda: [32, 64], min_length=1)
    convs_per_stage: int = Field(1, gt=0)
    kernel: int = Field(3, gt=0)
    pool: int = Field(2, ge=1)
    batchnorm: bool = True
    global_pool: bool = False
    dense: list[PositiveInt] = Field(default_factory=lambda: [128])
    dropout: float = Field(0.0, ge=0, lt=1)


@preset("cnn", CNNOptions, {"data": {"dataset": "digits"}, "model": {"arch": "cnn", "channels": [8, 16], "dense": [32]}})
def cnn(o: CNNOptions, input_shape: tuple[int, ...], n_outputs: int) -> Chain:
    """Convolutional net: per stage [conv, (batchnorm), activation] x n, pooling; then dense layers."""
    if len(input_shape) not in (2, 3):
        raise ShapeError(
            f"model.arch 'cnn' needs (channels, length) or (channels, height, width) input; got {input_shape}. "
            "For builtin image sets set data.view: image."
        )
    conv = "conv2d" if len(input_shape) == 3 else "conv1d"
    chain: Chain = []
    for width in o.channels:
        for _ in range(o.convs_per_stage):
            chain.append({conv: {"filters": width, "kernel": o.kernel}})
            if o.batchnorm:
                chain.append("batchnorm")
            chain.append(o.activation)
        if o.pool > 1:
            chain.append({"maxpool": o.pool})
    chain.append("global_avgpool" if o.global_pool else "flatten")
    for units in o.dense:
        chain += [{"dense": units}, o.activation]
        if o.dropout:
            chain.append({"dropout": o.dropout})
    chain.append({"dense": n_outputs})
    return chain
