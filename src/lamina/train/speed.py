"""Speed options of the training loop that change how the forward runs, never what it computes.

``train.compile`` hands the training forward to torch.compile. Compiling
happens lazily at the first batch, so a failure there (no C++ compiler, an
unsupported operation, an old torch) falls back to the eager module with one
message naming the reason, and training goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import nn


def compiled(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``net``'s forward through torch.compile, or ``net`` itself when torch cannot compile it."""
    try:
        fast = torch.compile(net)
    except Exception as exc:  # torch.compile refuses up front on some platforms
        _fall_back(exc)
        return net
    use_fast = True

    def forward(x: torch.Tensor) -> torch.Tensor:
        nonlocal use_fast
        if use_fast:
            try:
                return fast(x)
            except Exception as exc:  # a compiler failure at the first call; eager shows a user error again
                use_fast = False
                _fall_back(exc)
        return net(x)

    return forward


def _fall_back(exc: Exception) -> None:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"note: train.compile: torch.compile failed ({type(exc).__name__}: {reason[:300]}); "
          "training continues without compiling", file=sys.stderr)
