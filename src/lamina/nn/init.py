"""Weight initialization schemes, selectable by name as ``model.init``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from lamina.registry import INITIALIZERS

WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d)


def _apply(model: nn.Module, fill: Callable[[nn.Parameter], None]) -> None:
    for module in model.modules():
        if isinstance(module, WEIGHTED):
            fill(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


@INITIALIZERS.register("default")
def default_init(model: nn.Module) -> None:
    """Keep PyTorch's default initialization (Kaiming-uniform with a=sqrt(5))."""


@INITIALIZERS.register("he")
def he_init(model: nn.Module) -> None:
    """He/Kaiming normal (fan-in, ReLU gain): keeps activation variance through ReLU stacks."""
    _apply(model, lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))


@INITIALIZERS.register("glorot")
def glorot_init(model: nn.Module) -> None:
    """Glorot/Xavier uniform: balances forward and backward variance for tanh/sigmoid nets."""
    _apply(model, nn.init.xavier_uniform_)


@INITIALIZERS.register("orthogonal")
def orthogonal_init(model: nn.Module) -> None:
    """Orthogonal weight matrices (Saxe et al.): preserve norms through deep linear maps."""
    _apply(model, nn.init.orthogonal_)
