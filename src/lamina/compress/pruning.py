"""Pruning: zero the smallest weights (unstructured) or remove whole channels and neurons (structured).

Unstructured pruning keeps the architecture and zeroes weights by magnitude,
over all layers at once (``global``) or layer by layer, through
``torch.nn.utils.prune``; :func:`make_permanent` then bakes the masks in.
Structured pruning rewrites a chain: each conv's filters and each hidden
dense layer's neurons are ranked by the L1 norm of their weights, the weakest
are dropped, and the layers that read them (batchnorm, the next conv or
dense, through pooling, activations and flatten) lose the matching inputs.
The result is a smaller chain whose widths go into the new config.yaml, so
the run folder rebuilds it like any other model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from lamina.errors import ConfigError
from lamina.nn.layers import LayerCall, build_chain, parse_chain

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)
# Layers a channel passes through unchanged (channel i in is channel i out).
_PASS_THROUGH = ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "dropout", "maxpool", "avgpool",
                 "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d", "global_avgpool")
_NORMS = ("batchnorm", "batchnorm1d", "batchnorm2d")
_WIDTH_ARG = {"dense": "units", "conv1d": "filters", "conv2d": "filters"}


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The (module, 'weight') pairs of every dense and conv layer."""
    return [(m, "weight") for m in model.modules() if isinstance(m, PRUNABLE)]


def prune_unstructured(model: nn.Module, amount: float, scope: str = "global") -> None:
    """Mask the ``amount`` fraction of smallest-magnitude weights, over all layers or per layer (in place).

    The masks stay active (fine-tuning keeps pruned weights at zero) until :func:`make_permanent`.
    """
    if not 0.0 < amount < 1.0:
        raise ConfigError(f"prune amount must be between 0 and 1 (exclusive); got {amount}")
    pairs = prunable_weights(model)
    if scope == "global":
        prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=amount)
    elif scope == "layer":
        for module, name in pairs:
            prune.l1_unstructured(module, name, amount=amount)
    else:
        raise ConfigError(f"pruning scope must be one of global, layer; got {scope!r}")


def make_permanent(model: nn.Module) -> None:
    """Fold pruning masks into the weights and drop the re-parametrization (in place)."""
    for module, name in prunable_weights(model):
        if prune.is_pruned(module) and hasattr(module, f"{name}_mask"):
            prune.remove(module, name)


def sparsity_report(model: nn.Module) -> list[dict[str, Any]]:
    """Per layer: its name, kind, weight count and the fraction of exactly-zero weights; plus a total row."""
    rows, zeros, total = [], 0, 0
    for name, module in model.named_modules():
        if isinstance(module, PRUNABLE):
            weight = module.weight.detach()
            z = int((weight == 0).sum())
            rows.append({"layer": name, "kind": type(module).__name__, "weights": weight.numel(),
                         "sparsity": round(z / weight.numel(), 4)})
            zeros, total = zeros + z, total + weight.numel()
    rows.append({"layer": "total", "kind": "", "weights": total, "sparsity": round(zeros / max(total, 1), 4)})
    return rows


@dataclass
class Pruned:
    """A structurally pruned chain: its new layer items (for config.yaml) and its model with copied weights."""

    items: list[Any]
    model: nn.Sequential


def prune_structured(calls: list[LayerCall], layers: nn.Sequential, input_shape: tuple[int, ...],
                     amount: float) -> Pruned:
    """Remove the ``amount`` fraction of filters/neurons with the smallest L1 norm from every prunable layer.

    ``calls`` are the parsed chain items and ``layers`` the trained modules built from them. A layer is
    pruned only when everything between it and the next dense or conv layer passes channels through
    (batchnorm, activations, pooling, dropout, flatten); the output layer is never pruned.
    """
    if not 0.0 < amount < 1.0:
        raise ConfigError(f"prune amount must be between 0 and 1 (exclusive); got {amount}")
    keep: dict[int, torch.Tensor] = {}
    for i, call in enumerate(calls):
        if call.layer.name in _WIDTH_ARG and _consumer(calls, i) is not None:
            weight = layers[i].weight.detach()
            norms = weight.abs().flatten(1).sum(dim=1)
            n_keep = max(1, round(weight.shape[0] * (1 - amount)))
            keep[i] = norms.topk(n_keep).indices.sort().values
    items = []
    for i, call in enumerate(calls):
        args = call.args.model_dump()
        if i in keep:
            args[_WIDTH_ARG[call.layer.name]] = len(keep[i])
        items.append({call.layer.name: args} if args else call.layer.name)
    new_layers, _, _ = build_chain(parse_chain(items, "pruned model.layers"), tuple(input_shape))
    _copy_pruned(calls, layers, new_layers, keep, tuple(input_shape))
    return Pruned(items, new_layers)


def _consumer(calls: list[LayerCall], i: int) -> int | None:
    """Index of the dense/conv layer that reads layer ``i``'s channels, or None when a layer in between mixes them."""
    for j in range(i + 1, len(calls)):
        name = calls[j].layer.name
        if name in _WIDTH_ARG:
            return j
        if name not in _PASS_THROUGH and name not in _NORMS and name != "flatten":
            return None
    return None


def _copy_pruned(calls: list[LayerCall], old: nn.Sequential, new: nn.Sequential, keep: dict[int, torch.Tensor],
                 input_shape: tuple[int, ...]) -> None:
    """Copy the kept rows (outputs) and columns (inputs) of every layer's tensors into the new chain."""
    shapes = _shapes(old, input_shape)
    kept_in: torch.Tensor | None = None  # channel indices the current layer reads
    with torch.no_grad():
        for i, (a, b) in enumerate(zip(old, new)):
            name = calls[i].layer.name
            if name == "flatten" and kept_in is not None:
                spatial = int(torch.tensor(shapes[i][1:]).prod()) if len(shapes[i]) > 1 else 1
                kept_in = (kept_in[:, None] * spatial + torch.arange(spatial)).reshape(-1)  # (C_kept * spatial,)
                continue
            if name in _WIDTH_ARG:
                weight = a.weight if kept_in is None else a.weight.index_select(1, kept_in)
                out = keep.get(i)
                b.weight.copy_(weight if out is None else weight.index_select(0, out))
                if a.bias is not None:
                    b.bias.copy_(a.bias if out is None else a.bias.index_select(0, out))
                kept_in = out
            elif name in _NORMS and kept_in is not None:
                for key in ("weight", "bias", "running_mean", "running_var"):
                    getattr(b, key).copy_(getattr(a, key).index_select(0, kept_in))
                b.num_batches_tracked.copy_(a.num_batches_tracked)
            else:
                b.load_state_dict(a.state_dict())


def _shapes(layers: nn.Sequential, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The input shape (without batch) each layer of ``layers`` receives."""
    shapes, x = [], torch.zeros((1, *input_shape))
    was_training = layers.training
    layers.eval()
    with torch.no_grad():
        for layer in layers:
            shapes.append(tuple(x.shape[1:]))
            x = layer(x)
    layers.train(was_training)
    return shapes
