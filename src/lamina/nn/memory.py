"""Parameter counts checked against this machine's memory before a layer is allocated.

Each layer is first built on torch's meta device (shapes only, no memory, no initialization) to count
its parameters, so ``hidden: [100000, 100000]`` or ``{dense: 10**12}`` is refused with one message
naming both figures instead of an allocation failure or a machine swapping for minutes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lamina.errors import ShapeError

BYTES_PER_PARAM = 4 * 4  # float32 weights, their gradients and an optimizer's two moments (Adam)


def machine_memory() -> int | None:
    """Physical memory of this machine in bytes, or None where the system does not say (then nothing is refused)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def params_on_meta(build: Callable[[Any, Any], nn.Module], shape: Any, args: Any) -> int:
    """Parameters the layer ``build(shape, args)`` would allocate, counted on the meta device (0 if it cannot say)."""
    try:
        with torch.device("meta"):
            module = build(shape, args)
    except Exception:  # noqa: BLE001 - a builder that needs real tensors: the real build reports any problem
        return 0
    return sum(p.numel() for p in module.parameters())


def check_fits_memory(params: int, where: str) -> None:
    """Refuse ``params`` parameters (so far, at ``where``) that could not be trained in this machine's memory."""
    memory = machine_memory()
    needed = params * BYTES_PER_PARAM
    if memory is not None and needed > memory:
        raise ShapeError(f"{where} brings the model to {params:,} parameters, about {needed / 2**30:,.1f} GiB to "
                         f"train (weights, gradients, optimizer state); this machine has {memory / 2**30:,.1f} GiB "
                         "of memory")
