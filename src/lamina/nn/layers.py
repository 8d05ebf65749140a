"""Chainable layers by name, with shape inference.

A chain is a list of items, each a layer name (``relu``), a one-key mapping
with the layer's main argument (``{dense: 64}``), or a one-key mapping with
named arguments (``{conv2d: {filters: 32, kernel: 5}}``). Users give output
sizes only: each layer is built for the shape its predecessor produces, and
that shape is found by running a small zero batch through it, so a chain that
cannot work fails when it is built, naming the layer and the shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from lamina.errors import ConfigError, ShapeError
from lamina.nn.memory import check_fits_memory, params_on_meta
from lamina.registry import LAYERS, validate_step_args

Shape = tuple[int, ...]
RANK_WORDS = {1: "(features,)", 2: "(channels, length)", 3: "(channels, height, width)"}


class Args(BaseModel):
    """Base of every layer's argument model: unknown arguments are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class LayerType:
    """A registered layer: its arguments, how to build it, and an example for the common tests."""

    name: str
    args: type[Args]
    build: Callable[[Shape, Any], nn.Module]
    primary: str | None = None
    ranks: tuple[int, ...] | None = None
    example_input: Shape = (8,)
    example_args: dict[str, Any] = field(default_factory=dict)
    doc: str = ""
    tokens: int | None = None  # takes integer token ids below this vocabulary size, not float features

    def example_batch(self, n: int) -> torch.Tensor:
        """A random batch of ``n`` example inputs: token ids for token layers, normal floats otherwise."""
        if self.tokens is not None:
            return torch.randint(1, self.tokens, (n, *self.example_input))  # (n, T) ids; 0 is padding
        return torch.randn(n, *self.example_input)


@dataclass(frozen=True)
class LayerCall:
    """One parsed chain item: which layer, with which validated arguments, at which config path."""

    layer: LayerType
    args: Any
    path: str


def layer(
    name: str,
    args: type[Args] | None = None,
    *,
    primary: str | None = None,
    ranks: tuple[int, ...] | None = None,
    example_input: Shape = (8,),
    example_args: dict[str, Any] | None = None,
    tokens: int | None = None,
) -> Callable[[Callable[[Shape, Any], nn.Module]], Callable[[Shape, Any], nn.Module]]:
    """Register a builder ``(input_shape, args) -> module`` as the layer ``name``."""

    def decorate(build: Callable[[Shape, Any], nn.Module]) -> Callable[[Shape, Any], nn.Module]:
        doc = (build.__doc__ or "").strip().splitlines()[0] if build.__doc__ else ""
        LAYERS.add(
            name,
            LayerType(name, args or Args, build, primary, ranks, example_input, example_args or {}, doc, tokens),
            doc,
        )
        return build

    return decorate


# ---------------------------------------------------------------- parsing


def parse_chain(items: Any, path: str) -> list[LayerCall]:
    """Validate a chain of layer items (names and arguments) without building anything."""
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path} must be a non-empty list of layers; got {items!r}")
    return [parse_layer(item, f"{path}[{i}]") for i, item in enumerate(items)]


def parse_layer(item: Any, path: str) -> LayerCall:
    """Validate one chain item such as ``relu``, ``{dense: 64}`` or ``{conv2d: {filters: 8}}``."""
    if isinstance(item, str):
        name, value = item, None
    elif isinstance(item, dict) and len(item) == 1:
        name, value = next(iter(item.items()))
    else:
        raise ConfigError(
            f"{path} must be a layer name or a one-key mapping like {{dense: 64}}; got {item!r}"
        )
    kind: LayerType = LAYERS.get(str(name), f"{path} layer name")
    args = validate_step_args(kind.args, kind.primary, str(name), value, path, "layer")
    if isinstance(args, ResidualArgs):
        parse_chain(args.layers, f"{path}.residual.layers")
    return LayerCall(kind, args, f"{path} ({name})")


# ---------------------------------------------------------------- building


@dataclass
class LayerInfo:
    """A row of the model summary: where the layer sits, what it outputs, how many parameters it has."""

    path: str
    name: str
    output_shape: Shape
    params: int
    depth: int = 0


def build_chain(calls: list[LayerCall], input_shape: Shape, depth: int = 0) -> tuple[nn.Sequential, Shape, list[LayerInfo]]:
    """Build modules for parsed layers, inferring each input shape; returns (modules, output shape, rows)."""
    modules: list[nn.Module] = []
    rows: list[LayerInfo] = []
    shape = tuple(input_shape)
    params = 0
    for call in calls:
        if call.layer.ranks is not None and len(shape) not in call.layer.ranks:
            wanted = " or ".join(RANK_WORDS.get(r, f"rank {r}") for r in call.layer.ranks)
            raise ShapeError(
                f"{call.path} expects input shaped {wanted}; got {shape}."
                + (" Add a flatten layer before it." if len(shape) > max(call.layer.ranks) else
                   " For image data set data.view: image." if 3 in call.layer.ranks else "")
            )
        if "layers" not in call.layer.args.model_fields:  # a sub-chain (residual) checks its own layers as it builds
            params += params_on_meta(call.layer.build, shape, call.args)
            check_fits_memory(params, call.path)
        module = call.layer.build(shape, call.args)
        sub_rows = getattr(module, "summary_rows", [])
        out = infer_shape(module, shape, call.path, torch.long if call.layer.tokens is not None else torch.float32)
        rows.append(LayerInfo(call.path, call.layer.name, out, count_params(module), depth))
        rows.extend(LayerInfo(r.path, r.name, r.output_shape, r.params, depth + 1) for r in sub_rows)
        modules.append(module)
        shape = out
    return Chain(*modules), shape, rows


def infer_shape(module: nn.Module, shape: Shape, where: str, dtype: torch.dtype = torch.float32) -> Shape:
    """Run a zero batch of two (of ``dtype``: token layers take integer ids) through ``module`` to find its output shape."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros((2, *shape), dtype=dtype))
    except (RuntimeError, ValueError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeError(f"{where} cannot take input of shape {shape}: {first}") from None
    finally:
        module.train(was_training)
    if any(d == 0 for d in out.shape[1:]):
        raise ShapeError(f"{where} turns input of shape {shape} into an empty shape {tuple(out.shape[1:])}")
    return tuple(out.shape[1:])


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ---------------------------------------------------------------- modules


class Chain(nn.Sequential):
    """Layers run in order, threading a sequence padding mask from the layer that makes it to those that use it.

    A module with ``padding_mask(x)`` (an embedding with a padding index) defines the mask from its
    input; modules with ``takes_mask = True`` (recurrent layers, attention, sequence pooling) receive it
    as ``mask`` (B, T), True at padded positions. Other modules see only the tensor.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = None
        for module in self:
            if hasattr(module, "padding_mask"):
                mask = module.padding_mask(x)  # (B, T) bool or None
            x = module(x, mask=mask) if getattr(module, "takes_mask", False) else module(x)
        return x


class GlobalAvgPool(nn.Module):
    """Average over every spatial axis: (B, C, ...) -> (B, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).mean(dim=2)  # (B, C)


class Residual(nn.Module):
    """``body(x) + shortcut(x)``, where the shortcut projects when shapes differ."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


# ---------------------------------------------------------------- layer arguments


Padding = Literal["same", "valid"] | int


class DenseArgs(Args):
    units: int = Field(gt=0)
    bias: bool = True


class ConvArgs(Args):
    filters: int = Field(gt=0)
    kernel: int = Field(3, gt=0)
    stride: int = Field(1, gt=0)
    padding: Padding = "same"
    dilation: int = Field(1, gt=0)
    bias: bool = True


class PoolArgs(Args):
    size: int = Field(2, gt=0)
    stride: int | None = Field(None, gt=0)


class DropoutArgs(Args):
    rate: float = Field(0.5, ge=0, lt=1)


class NormArgs(Args):
    momentum: float = Field(0.1, gt=0, lt=1)
    eps: float = Field(1e-5, gt=0)


class LeakyArgs(Args):
    slope: float = Field(0.01, ge=0)


class EluArgs(Args):
    alpha: float = Field(1.0, gt=0)


class SoftmaxArgs(Args):
    dim: int = -1


class ResidualArgs(Args):
    layers: list[Any]
    projection: Literal["auto", "none"] = "auto"


# ---------------------------------------------------------------- layer builders


@layer("dense", DenseArgs, primary="units", example_args={"units": 4})
def dense(shape: Shape, a: DenseArgs) -> nn.Module:
    """Fully connected layer over the last axis (Keras Dense)."""
    return nn.Linear(shape[-1], a.units, bias=a.bias)


def _padding(a: ConvArgs) -> int | str:
    if a.padding == "same":
        return a.dilation * (a.kernel - 1) // 2
    return 0 if a.padding == "valid" else a.padding


def _kernel_fits(shape: Shape, a: ConvArgs, name: str) -> None:
    """Refuse a kernel far wider than its input: it would see mostly padding and cost its width squared per value."""
    reach = a.dilation * (a.kernel - 1) + 1
    size = min(shape[1:])
    if reach > 2 * size + 1:
        raise ShapeError(f"{name} kernel {a.kernel}" + (f" (dilation {a.dilation})" if a.dilation > 1 else "")
                         + f" spans {reach} positions on an input of size {size}; a kernel may span at most "
                         f"{2 * size + 1} (twice the input and one)")


@layer("conv1d", ConvArgs, primary="filters", ranks=(2,), example_input=(2, 12), example_args={"filters": 4})
def conv1d(shape: Shape, a: ConvArgs) -> nn.Module:
    """1-D convolution over (channels, length) input; 'same' padding keeps the length at stride 1."""
    _kernel_fits(shape, a, "conv1d")
    return nn.Conv1d(shape[0], a.filters, a.kernel, a.stride, _padding(a), a.dilation, bias=a.bias)


@layer("conv2d", ConvArgs, primary="filters", ranks=(3,), example_input=(1, 8, 8), example_args={"filters": 4})
def conv2d(shape: Shape, a: ConvArgs) -> nn.Module:
    """2-D convolution over (channels, height, width) input; 'same' padding keeps the size at stride 1."""
    _kernel_fits(shape, a, "conv2d")
    return nn.Conv2d(shape[0], a.filters, a.kernel, a.stride, _padding(a), a.dilation, bias=a.bias)


def _pool(kind: str, dims: int | None) -> Callable[[Shape, PoolArgs], nn.Module]:
    def build(shape: Shape, a: PoolArgs) -> nn.Module:
        d = dims or len(shape) - 1
        cls = {("max", 1): nn.MaxPool1d, ("max", 2): nn.MaxPool2d, ("avg", 1): nn.AvgPool1d, ("avg", 2): nn.AvgPool2d}
        return cls[(kind, d)](a.size, a.stride or a.size)

    return build


for _kind, _word in (("max", "Max"), ("avg", "Average")):
    for _dims, _ranks, _example in ((1, (2,), (2, 12)), (2, (3,), (2, 8, 8)), (None, (2, 3), (2, 8, 8))):
        _name = f"{_kind}pool{'' if _dims is None else f'{_dims}d'}"
        _builder = _pool(_kind, _dims)
        _builder.__doc__ = f"{_word} pooling{'' if _dims else ' (1-D or 2-D, chosen by the input rank)'} over a window of `size`."
        layer(_name, PoolArgs, primary="size", ranks=_ranks, example_input=_example)(_builder)


@layer("global_avgpool", ranks=(2, 3), example_input=(3, 4, 4))
def global_avgpool(shape: Shape, a: Args) -> nn.Module:
    """Average over all spatial positions: (C, ...) -> (C,)."""
    return GlobalAvgPool()


@layer("flatten", example_input=(2, 3, 3))
def flatten(shape: Shape, a: Args) -> nn.Module:
    """Flatten everything but the batch axis."""
    return nn.Flatten(1)


@layer("dropout", DropoutArgs, primary="rate", example_args={"rate": 0.1})
def dropout(shape: Shape, a: DropoutArgs) -> nn.Module:
    """Zero a fraction `rate` of activations while training (inverted dropout)."""
    return nn.Dropout(a.rate)


@layer("batchnorm", NormArgs, ranks=(1, 2, 3), example_input=(3, 4, 4))
def batchnorm(shape: Shape, a: NormArgs) -> nn.Module:
    """Batch normalization over features or channels, 1-D or 2-D by the input rank."""
    if len(shape) == 3:
        return nn.BatchNorm2d(shape[0], a.eps, a.momentum)
    return nn.BatchNorm1d(shape[0], a.eps, a.momentum)


@layer("batchnorm1d", NormArgs, ranks=(1, 2), example_input=(3, 5))
def batchnorm1d(shape: Shape, a: NormArgs) -> nn.Module:
    """Batch normalization over (features,) or (channels, length) input."""
    return nn.BatchNorm1d(shape[0], a.eps, a.momentum)


@layer("batchnorm2d", NormArgs, ranks=(3,), example_input=(3, 4, 4))
def batchnorm2d(shape: Shape, a: NormArgs) -> nn.Module:
    """Batch normalization over (channels, height, width) input."""
    return nn.BatchNorm2d(shape[0], a.eps, a.momentum)


@layer("layernorm", NormArgs)
def layernorm(shape: Shape, a: NormArgs) -> nn.Module:
    """Layer normalization over the last axis."""
    return nn.LayerNorm(shape[-1], eps=a.eps)


ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax")


@layer("relu")
def relu(shape: Shape, a: Args) -> nn.Module:
    """max(0, x)."""
    return nn.ReLU()


@layer("leaky_relu", LeakyArgs, primary="slope")
def leaky_relu(shape: Shape, a: LeakyArgs) -> nn.Module:
    """x for x > 0, slope * x otherwise."""
    return nn.LeakyReLU(a.slope)


@layer("elu", EluArgs, primary="alpha")
def elu(shape: Shape, a: EluArgs) -> nn.Module:
    """Exponential linear unit."""
    return nn.ELU(a.alpha)


@layer("gelu")
def gelu(shape: Shape, a: Args) -> nn.Module:
    """Gaussian error linear unit."""
    return nn.GELU()


@layer("sigmoid")
def sigmoid(shape: Shape, a: Args) -> nn.Module:
    """Logistic function 1 / (1 + exp(-x))."""
    return nn.Sigmoid()


@layer("tanh")
def tanh(shape: Shape, a: Args) -> nn.Module:
    """Hyperbolic tangent."""
    return nn.Tanh()


@layer("softmax", SoftmaxArgs, primary="dim")
def softmax(shape: Shape, a: SoftmaxArgs) -> nn.Module:
    """Softmax over `dim` (a final softmax is unneeded: the losses take logits)."""
    return nn.Softmax(dim=a.dim)


@layer(
    "residual",
    ResidualArgs,
    primary="layers",
    example_input=(2, 6, 6),
    example_args={"layers": [{"conv2d": 4}, "relu"]},
)
def residual(shape: Shape, a: ResidualArgs) -> nn.Module:
    """Sub-chain plus skip connection; a 1x1 convolution or dense projection matches shapes when they differ."""
    body, out, rows = build_chain(parse_chain(a.layers, "residual.layers"), shape)
    shortcut: nn.Module = nn.Identity()
    if out != shape:
        if a.projection == "none":
            raise ShapeError(f"residual body changes shape {shape} -> {out} and projection is 'none'")
        shortcut = _projection(shape, out)
    block = Residual(body, shortcut)
    block.summary_rows = rows  # type: ignore[assignment]
    return block


def _projection(shape: Shape, out: Shape) -> nn.Module:
    if len(shape) != len(out):
        raise ShapeError(f"residual body changes rank {shape} -> {out}; a skip connection needs the same rank")
    if len(shape) == 1:
        return nn.Linear(shape[0], out[0], bias=False)
    strides = [max(1, s // o) for s, o in zip(shape[1:], out[1:])]
    conv = nn.Conv2d if len(shape) == 3 else nn.Conv1d
    norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return nn.Sequential(conv(shape[0], out[0], 1, tuple(strides), bias=False), norm(out[0]))
