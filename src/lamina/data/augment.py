"""Data augmentation on the training device, applied to whole batches.

An augmentation pipeline is a list of steps in the config, each a name
(``flip``) or a one-key mapping (``{shift: 1}``, ``{mixup: {alpha: 0.2}}``),
like a layer chain. Steps run in order on each training batch inside the fast
in-memory path: every random draw is a tensor op on the batch's device, so no
per-sample Python work and no copy back to the host.

Images (inputs shaped (C, H, W)): ``shift``, ``crop``, ``flip``, ``rotate``,
``cutout``, ``cutmix``. Any float input (images or tables): ``noise``,
``mixup``. Token ids: ``token_dropout``.

``mixup`` and ``cutmix`` blend pairs of samples; they return the pairing and
the blend weight so the loss can be taken against both labels
(``lam * L(out, y) + (1 - lam) * L(out, y[pair])``), which works for every
loss lamina has, classification or regression.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from lamina.errors import ConfigError, one_of
from lamina.registry import validate_step_args


class StepArgs(BaseModel):
    """Base of every step's arguments: unknown arguments are errors; ``p`` is the share of samples changed."""

    model_config = ConfigDict(extra="forbid")
    p: float = Field(1.0, ge=0, le=1)


class ShiftArgs(StepArgs):
    pixels: float = Field(1, gt=0)
    subpixel: bool = False


class CropArgs(StepArgs):
    scale: float = Field(0.8, gt=0, le=1)


class FlipArgs(StepArgs):
    axis: Literal["horizontal", "vertical", "both"] = "horizontal"
    p: float = Field(0.5, ge=0, le=1)


class RotateArgs(StepArgs):
    degrees: float = Field(10.0, gt=0, le=180)


class NoiseArgs(StepArgs):
    std: float = Field(0.05, gt=0)


class CutoutArgs(StepArgs):
    size: int = Field(2, ge=1)
    p: float = Field(0.5, ge=0, le=1)


class MixArgs(StepArgs):
    alpha: float = Field(0.2, gt=0)


class TokenDropoutArgs(StepArgs):
    rate: float = Field(0.1, gt=0, lt=1)
    token: int = Field(0, ge=0)


@dataclass
class Mix:
    """How a batch was blended: sample i holds ``lam`` of itself and ``1 - lam`` of sample ``pair[i]``."""

    pair: torch.Tensor
    lam: float


@dataclass(frozen=True)
class StepType:
    """A registered augmentation: its arguments, the inputs it needs, and the batch function."""

    name: str
    args: type[StepArgs]
    primary: str | None
    needs: Literal["image", "float", "tokens"]
    apply: Callable[..., Any]
    doc: str


STEPS: dict[str, StepType] = {}


def step(name: str, args: type[StepArgs], primary: str | None, needs: Literal["image", "float", "tokens"]
         ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``apply(x, args, generator)`` as the augmentation ``name``."""

    def decorate(apply: Callable[..., Any]) -> Callable[..., Any]:
        STEPS[name] = StepType(name, args, primary, needs, apply, (apply.__doc__ or "").strip().splitlines()[0])
        return apply

    return decorate


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Step:
    """One parsed pipeline item: which augmentation, with which arguments, at which config path."""

    kind: StepType
    args: Any
    path: str


def parse_pipeline(items: Any, path: str = "train.augment") -> list[Step]:
    """Validate a list of augmentation items (names and arguments) into steps."""
    if not isinstance(items, list):
        raise ConfigError(f"{path} must be a list of augmentation steps like [{{shift: 1}}, flip]; got {items!r}")
    return [parse_step(item, f"{path}[{i}]") for i, item in enumerate(items)]


def parse_step(item: Any, path: str) -> Step:
    """Validate one item such as ``flip``, ``{noise: 0.1}`` or ``{mixup: {alpha: 0.4}}``."""
    if isinstance(item, str):
        name, value = item, None
    elif isinstance(item, dict) and len(item) == 1:
        name, value = next(iter(item.items()))
    else:
        raise ConfigError(f"{path} must be an augmentation name or a one-key mapping like {{noise: 0.1}}; got {item!r}")
    if name not in STEPS:
        raise ConfigError(one_of(f"{path} augmentation", name, STEPS))
    kind = STEPS[name]
    args = validate_step_args(kind.args, kind.primary, name, value, path, "augmentation")
    return Step(kind, args, path)


def check_inputs(steps: list[Step], example: torch.Tensor) -> None:
    """Refuse steps that cannot apply to these inputs (a flip of a table, noise on token ids), naming the step."""
    shape = tuple(example.shape[1:])
    for s in steps:
        if s.kind.needs == "image" and len(shape) != 3:
            raise ConfigError(f"{s.path}: '{s.kind.name}' needs image inputs shaped (channels, height, width); "
                              f"got inputs shaped {shape}. For builtin image sets set data.view: image")
        if s.kind.needs == "tokens" and example.is_floating_point():
            raise ConfigError(f"{s.path}: '{s.kind.name}' needs token-id inputs; got float features shaped {shape}")
        if s.kind.needs in ("image", "float") and not example.is_floating_point():
            raise ConfigError(f"{s.path}: '{s.kind.name}' needs float inputs; got token ids shaped {shape}. "
                              "Use token_dropout for text")


def augment(steps: list[Step], x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, Mix | None]:
    """Run the pipeline on one batch; returns the new inputs and the blend of the last mixing step (or None).

    With two mixing steps (mixup then cutmix), the loss blends the labels of the last one only.
    """
    mix = None
    for s in steps:
        out = s.kind.apply(x, s.args, generator)
        if isinstance(out, tuple):
            x, mix = out
        else:
            x = out
    return x, mix


# ---------------------------------------------------------------- helpers


def _uniform(n: int, low: float, high: float, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, device=like.device, generator=generator)


def _chosen(n: int, p: float, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A (n,) float mask: 1 for the samples a step changes (each with probability ``p``)."""
    return (torch.rand(n, device=like.device, generator=generator) < p).to(like.dtype)


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample images by per-sample affine maps (B, 2, 3) in normalized coordinates; outside is 0 (background)."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _identity(x: torch.Tensor) -> torch.Tensor:
    theta = torch.zeros(len(x), 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    return theta


def _beta(alpha: float, generator: torch.Generator) -> float:
    """One draw of Beta(alpha, alpha) by Johnk's method (uniform draws from ``generator`` only)."""
    for _ in range(1000):
        u = torch.rand(2, device=generator.device, generator=generator).clamp_min(1e-12).tolist()
        a, b = u[0] ** (1 / alpha), u[1] ** (1 / alpha)
        if 0 < a + b <= 1:
            return a / (a + b)
    return 0.5


def _pairing(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randperm(len(x), generator=generator, device=generator.device).to(x.device)


# ---------------------------------------------------------------- image steps


@step("shift", ShiftArgs, "pixels", "image")
def shift(x: torch.Tensor, a: ShiftArgs, g: torch.Generator) -> torch.Tensor:
    """Translate images by up to ``pixels`` each way: whole pixels (a random crop of a zero-padded image),
    or with ``subpixel`` any fraction (bilinear), which on small images mimics a different sampling phase."""
    n, _, h, w = x.shape
    theta = _identity(x)
    keep = _chosen(n, a.p, x, g)
    for row, size in ((0, w), (1, h)):
        if a.subpixel:
            offset = _uniform(n, -a.pixels, a.pixels, x, g)
        else:
            offset = torch.randint(-int(a.pixels), int(a.pixels) + 1, (n,), device=x.device, generator=g).to(x.dtype)
        theta[:, row, 2] = offset * 2.0 / size * keep
    return _warp(x, theta)


@step("crop", CropArgs, "scale", "image")
def crop(x: torch.Tensor, a: CropArgs, g: torch.Generator) -> torch.Tensor:
    """Random resized crop: a square region of ``scale``..1 of each side, anywhere, stretched back to full size."""
    n = len(x)
    keep = _chosen(n, a.p, x, g)
    side = 1 - (1 - _uniform(n, a.scale, 1.0, x, g)) * keep  # (n,) kept fraction of each side
    theta = _identity(x) * side.view(n, 1, 1)
    theta[:, 0, 2] = (1 - side) * _uniform(n, -1.0, 1.0, x, g)
    theta[:, 1, 2] = (1 - side) * _uniform(n, -1.0, 1.0, x, g)
    return _warp(x, theta)


@step("rotate", RotateArgs, "degrees", "image")
def rotate(x: torch.Tensor, a: RotateArgs, g: torch.Generator) -> torch.Tensor:
    """Rotate images by a random angle within +-``degrees``."""
    n = len(x)
    angle = _uniform(n, -a.degrees, a.degrees, x, g) * math.pi / 180 * _chosen(n, a.p, x, g)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    return _warp(x, theta)


@step("flip", FlipArgs, "axis", "image")
def flip(x: torch.Tensor, a: FlipArgs, g: torch.Generator) -> torch.Tensor:
    """Mirror images left-right (``horizontal``), top-bottom (``vertical``) or either; only where labels allow."""
    n = len(x)
    out = x
    dims = {"horizontal": [3], "vertical": [2], "both": [3, 2]}[a.axis]
    for dim in dims:
        keep = _chosen(n, a.p, x, g).view(n, 1, 1, 1)
        out = keep * out.flip(dim) + (1 - keep) * out
    return out


@step("cutout", CutoutArgs, "size", "image")
def cutout(x: torch.Tensor, a: CutoutArgs, g: torch.Generator) -> torch.Tensor:
    """Zero a random ``size`` x ``size`` square of each chosen image (it may hang over the edge)."""
    n, _, h, w = x.shape
    top = torch.randint(-(a.size // 2), h - a.size // 2, (n, 1, 1), device=x.device, generator=g)
    left = torch.randint(-(a.size // 2), w - a.size // 2, (n, 1, 1), device=x.device, generator=g)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + a.size) & (cols >= left) & (cols < left + a.size)  # (n, h, w)
    hole = hole & (_chosen(n, a.p, x, g).view(n, 1, 1) > 0)
    return x.masked_fill(hole.unsqueeze(1), 0.0)


@step("cutmix", MixArgs, "alpha", "image")
def cutmix(x: torch.Tensor, a: MixArgs, g: torch.Generator) -> tuple[torch.Tensor, Mix]:
    """Paste a random box from a paired image; the labels blend by the pasted area (CutMix)."""
    _, _, h, w = x.shape
    lam = _beta(a.alpha, g)
    bh, bw = round(h * math.sqrt(1 - lam)), round(w * math.sqrt(1 - lam))
    top = int(torch.randint(0, h - bh + 1, (1,), device=g.device, generator=g))
    left = int(torch.randint(0, w - bw + 1, (1,), device=g.device, generator=g))
    pair = _pairing(x, g)
    out = x.clone()
    out[:, :, top : top + bh, left : left + bw] = x[pair, :, top : top + bh, left : left + bw]
    return out, Mix(pair, 1 - bh * bw / (h * w))


# ---------------------------------------------------------------- any float input


@step("noise", NoiseArgs, "std", "float")
def noise(x: torch.Tensor, a: NoiseArgs, g: torch.Generator) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``std`` (in model-input units, i.e. after scaling)."""
    keep = _chosen(len(x), a.p, x, g).view(-1, *[1] * (x.dim() - 1))
    return x + keep * a.std * torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=g)


@step("mixup", MixArgs, "alpha", "float")
def mixup(x: torch.Tensor, a: MixArgs, g: torch.Generator) -> tuple[torch.Tensor, Mix]:
    """Blend each sample with a paired one by a Beta(alpha, alpha) weight; the loss blends their labels alike."""
    lam = _beta(a.alpha, g)
    pair = _pairing(x, g)
    return lam * x + (1 - lam) * x[pair], Mix(pair, lam)


# ---------------------------------------------------------------- token ids


@step("token_dropout", TokenDropoutArgs, "rate", "tokens")
def token_dropout(x: torch.Tensor, a: TokenDropoutArgs, g: torch.Generator) -> torch.Tensor:
    """Replace a ``rate`` share of the (non-padding) tokens by ``token`` (0, padding, unless set)."""
    drop = torch.rand(x.shape, device=x.device, generator=g) < a.rate
    drop &= x != 0
    return x.masked_fill(drop, a.token)
