"""Optimizer parameter groups from ``train.lr_groups``: discriminative learning rates per layer range."""

from __future__ import annotations

from typing import Any

from torch import nn

from lamina.config import LrGroupSpec
from lamina.errors import ConfigError


def select_layers(selector: str | int, total: int, backbone: list[list[int]]) -> list[int]:
    """The layer indices a selector names: backbone, head, backbone.N, an index, or a start:stop range."""
    where = f"train.lr_groups layers {selector!r}"
    size = sum(len(g) for g in backbone)
    if isinstance(selector, int):
        if not -total <= selector < total:
            raise ConfigError(f"{where} must be a layer index from {-total} to {total - 1}")
        return [selector % total]
    if selector in ("backbone", "head") or selector.startswith("backbone."):
        if not backbone:
            raise ConfigError(f"{where} needs a model.backbone; use a layer index or a start:stop range")
        if selector == "backbone":
            return list(range(size))
        if selector == "head":
            return list(range(size, total))
        number = selector.removeprefix("backbone.")
        if not number.isdigit() or int(number) >= len(backbone):
            raise ConfigError(f"{where}: the backbone has layer groups backbone.0 to backbone.{len(backbone) - 1}")
        return backbone[int(number)]
    start, colon, stop = selector.partition(":")
    try:
        bounds = slice(int(start) if start.strip() else None, int(stop) if stop.strip() else None)
    except ValueError:
        raise ConfigError(f"{where} must be backbone, head, backbone.N, a layer index or a start:stop range") from None
    if not colon:
        return select_layers(bounds.start, total, backbone)
    return list(range(total))[bounds]


def param_groups(model: nn.Module, entries: list[LrGroupSpec], base_lr: float,
                 backbone: list[list[int]] | None = None) -> list[dict[str, Any]]:
    """Parameter groups for the optimizer: each layer at its first matching entry's rate, others at ``base_lr``.

    ``model.layers`` is the chain; ``backbone`` lists the backbone's layer groups (empty without one).
    Frozen parameters are included, so gradual unfreezing needs no new optimizer.
    """
    layers = model.layers
    total = len(layers)
    rate_of = [base_lr] * total
    claimed = [False] * total
    for entry in entries:
        rate = entry.lr if entry.lr is not None else base_lr * entry.scale
        for index in select_layers(entry.layers, total, backbone or []):
            if not claimed[index]:
                rate_of[index], claimed[index] = rate, True
    groups: dict[float, list[nn.Parameter]] = {}
    for index, module in enumerate(layers):
        groups.setdefault(rate_of[index], []).extend(module.parameters())
    return [{"params": params, "lr": rate} for rate, params in groups.items() if params]
