"""Residual network preset built from basic blocks (two 3x3 convolutions and a skip connection)."""

from __future__ import annotations

from pydantic import Field, PositiveInt, model_validator

from lamina.errors import ShapeError
from lamina.nn.models.preset import ActivationOption, Chain, preset


class ResNetOptions(ActivationOption):
    widths: list[PositiveInt] = Field(default_factory=lambda: [16, 32, 64], min_length=1)
    blocks: list[PositiveInt] = Field(default_factory=lambda: [2, 2, 2], min_length=1)
    stem: int = Field(16, gt=0)

    @model_validator(mode="after")
    def _one_block_count_per_stage(self) -> ResNetOptions:
        if len(self.widths) != len(self.blocks):
            raise ValueError(
                f"model.widths and model.blocks must have the same length (one entry per stage); "
                f"got {len(self.widths)} and {len(self.blocks)}"
            )
        return self


def basic_block(width: int, stride: int, activation: str) -> list:
    """A residual basic block: conv-bn-act-conv-bn plus shortcut, then the activation."""
    body = [
        {"conv2d": {"filters": width, "kernel": 3, "stride": stride, "bias": False}},
        "batchnorm",
        activation,
        {"conv2d": {"filters": width, "kernel": 3, "bias": False}},
        "batchnorm",
    ]
    return [{"residual": body}, activation]


@preset("resnet", ResNetOptions,
        {"data": {"dataset": "digits"}, "model": {"arch": "resnet", "widths": [8, 16], "blocks": [1, 1], "stem": 8}})
def resnet(o: ResNetOptions, input_shape: tuple[int, ...], n_outputs: int) -> Chain:
    """ResNet of basic blocks; each stage after the first halves the resolution; global pooling head."""
    if len(input_shape) != 3:
        raise ShapeError(
            f"model.arch 'resnet' needs (channels, height, width) input; got {input_shape}. "
            "For builtin image sets set data.view: image."
        )
    chain: Chain = [{"conv2d": {"filters": o.stem, "kernel": 3, "bias": False}}, "batchnorm", o.activation]
    for stage, (width, count) in enumerate(zip(o.widths, o.blocks)):
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            chain += basic_block(width, stride, o.activation)
    chain += ["global_avgpool", {"dense": n_outputs}]
    return chain
