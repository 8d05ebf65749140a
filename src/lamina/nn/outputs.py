"""A model's outputs over many rows, in eval mode and fixed-size chunks (training, evaluation and prediction share it)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
from torch import nn


@torch.no_grad()
def model_outputs(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device,
                  autocast: Any = None) -> torch.Tensor:
    """Model outputs for ``x`` in eval mode, in fixed-size chunks, as float32 on the CPU."""
    model.eval()
    chunks = []
    for start in range(0, len(x), batch_size):
        with autocast or nullcontext():
            chunks.append(model(x[start : start + batch_size].to(device)).float().cpu())
    if not chunks:
        return torch.empty(0)
    return torch.cat(chunks)
