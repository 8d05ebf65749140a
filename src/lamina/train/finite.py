"""The non-finite stop: a NaN or infinite loss or gradient ends training at that step, naming where."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.train.loop import State


class TrainingDiverged(LaminaError):
    """The loss or a gradient became NaN or infinite."""


def check_finite(state: State, name: str) -> None:
    """Stop at this step when a loss or a gradient of optimizer ``name`` is NaN or infinite, before the weights change.

    A few sums and one host sync a step. Under fp16 an infinite gradient is the
    grad scaler's business (it skips the step and lowers the scale), so only
    the losses are checked there.
    """
    pending = state.pending[name]  # this group's losses, one per batch
    losses = pending[0] if len(pending) == 1 else torch.stack(pending).sum()
    grads = [p.grad for p in state.params[name] if p.grad is not None]
    if grads and not state.scaler.is_enabled():  # a NaN or an infinity survives norms and sums
        if grads[0].is_cuda:
            losses = losses + torch.stack(torch._foreach_norm(grads)).sum()  # a few fused kernels
        else:
            losses = losses + sum(g.sum() for g in grads)  # cheaper than norms on a CPU
    if math.isfinite(float(losses)):
        return
    values = torch.stack(pending).float().reshape(-1).tolist()
    bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
    group, last = len(pending), state.batch + 1
    first = last - group + 1
    batch = f"batch {first + (bad or 0)}" if bad is not None or group == 1 else f"batches {first}-{last}"
    what = f"the {'' if name == 'main' else name + ' '}loss is {values[bad if bad is not None else -1]:.6g}"
    owned = {id(p) for p in state.params[name]}
    layer = next((n for n, p in state.model.named_parameters() if id(p) in owned
                  and p.grad is not None and not bool(torch.isfinite(p.grad).all())), None)
    if bad is None and layer is None:
        return  # all finite, only so large that their sum overflowed: not this check's business
    if layer is not None:
        kind = type(state.model.get_submodule(layer.rpartition(".")[0])).__name__
        what += f"{';' if bad is not None else ' but'} the first layer with a non-finite gradient is {layer} ({kind})"
    raise TrainingDiverged(
        f"training diverged at step {state.step + 1} (epoch {state.epoch + 1}, {batch} of {state.steps_per_epoch}): "
        f"{what}. Lower train.optimizer.lr or set train.clip_norm"
    )
