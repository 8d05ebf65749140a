"""What a compressed model is compared on: stored values, file size and CPU latency."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from lamina.files import load_tensors

_NOT_WEIGHTS = ("running_mean", "running_var", "num_batches_tracked", ".scale", ".zero_point", ".axis")
_INPUT_QUANTIZATION = re.compile(r"_(scale|zero_point)_\d+$")  # static int8: where float activations become int8


def stored_params(weights: Path) -> int:
    """Number of weight and bias values in a run's model.safetensors (int8 or float; buffers and scales excluded)."""
    return sum(t.numel() for k, t in load_tensors(weights).items()
               if not k.endswith(_NOT_WEIGHTS) and not _INPUT_QUANTIZATION.search(k))


def median_seconds(fn: Callable[[], object], repeats: int = 30, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def latency(model: nn.Module, input_shape: tuple[int, ...], batch: int, repeats: int = 30) -> float:
    """Median seconds of one eval-mode forward pass of a random CPU batch of ``batch`` inputs."""
    x = torch.randn((batch, *input_shape))
    model.eval()
    with torch.inference_mode():
        return median_seconds(lambda: model(x), repeats)
