"""Optimizers and learning-rate schedules by name.

Schedules are step-based multipliers of the optimizer's learning rate
(``LambdaLR``), so they resume exactly from a step count and compose with
linear warmup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from lamina.config import OptimizerSpec, ScheduleSpec
from lamina.registry import OPTIMIZERS, SCHEDULES

Params = Iterable[torch.nn.Parameter]


@OPTIMIZERS.register("sgd")
def sgd(params: Params, o: OptimizerSpec) -> torch.optim.Optimizer:
    """Plain stochastic gradient descent (no momentum)."""
    return torch.optim.SGD(params, lr=o.lr, weight_decay=o.weight_decay)


@OPTIMIZERS.register("momentum")
def momentum(params: Params, o: OptimizerSpec) -> torch.optim.Optimizer:
    """SGD with heavy-ball momentum (``optimizer.momentum``, default 0.9)."""
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


@OPTIMIZERS.register("nesterov")
def nesterov(params: Params, o: OptimizerSpec) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum."""
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, nesterov=True, weight_decay=o.weight_decay)


def fusable(params: list) -> bool:
    """Whether torch's fused Adam kernel can update ``params`` (floating point, on the CPU or CUDA).

    ``params`` holds tensors or parameter groups (dicts with "params"). One fused kernel per step
    instead of a few small ops per tensor: on small models the optimizer step is a large share of the time.
    """
    params = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    return bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


@OPTIMIZERS.register("adam")
def adam(params: Params, o: OptimizerSpec) -> torch.optim.Optimizer:
    """Adam (weight decay added to the gradient, i.e. L2), with the fused kernel where it applies."""
    params = list(params)
    return torch.optim.Adam(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay,
                            fused=fusable(params) or None)


@OPTIMIZERS.register("adamw")
def adamw(params: Params, o: OptimizerSpec) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay), with the fused kernel where it applies."""
    params = list(params)
    return torch.optim.AdamW(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay,
                             fused=fusable(params) or None)


@OPTIMIZERS.register("rmsprop")
def rmsprop(params: Params, o: OptimizerSpec) -> torch.optim.Optimizer:
    """RMSprop (``optimizer.alpha`` smoothing, ``optimizer.momentum`` ignored)."""
    return torch.optim.RMSprop(params, lr=o.lr, alpha=o.alpha, eps=o.eps, weight_decay=o.weight_decay)


Multiplier = Callable[[int], float]


@SCHEDULES.register("constant")
def constant(s: ScheduleSpec, total: int, per_epoch: int) -> Multiplier:
    """The optimizer's learning rate throughout."""
    return lambda step: 1.0


@SCHEDULES.register("step")
def step(s: ScheduleSpec, total: int, per_epoch: int) -> Multiplier:
    """Multiply the rate by ``gamma`` every ``step_epochs`` epochs."""
    return lambda i: s.gamma ** (i // (s.step_epochs * per_epoch))


@SCHEDULES.register("cosine")
def cosine(s: ScheduleSpec, total: int, per_epoch: int) -> Multiplier:
    """Cosine decay from the rate to ``min_lr_ratio`` times it over the run."""
    return lambda i: s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(i / total, 1.0)))


@SCHEDULES.register("onecycle")
def onecycle(s: ScheduleSpec, total: int, per_epoch: int) -> Multiplier:
    """One-cycle: cosine rise from rate/25 to the rate over ``pct_start`` of the run, then cosine fall to ~0."""
    peak = max(1, int(s.pct_start * total))

    def multiplier(i: int) -> float:
        if i < peak:
            return 0.04 + 0.96 * 0.5 * (1 - math.cos(math.pi * i / peak))
        frac = min((i - peak) / max(1, total - peak), 1.0)
        return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * frac))

    return multiplier


@SCHEDULES.register("linear")
def linear(s: ScheduleSpec, total: int, per_epoch: int) -> Multiplier:
    """Linear decay from the rate to ``min_lr_ratio`` times it over the run."""
    return lambda i: 1.0 - (1.0 - s.min_lr_ratio) * min(i / total, 1.0)


def make_optimizer(params: Params, spec: OptimizerSpec) -> torch.optim.Optimizer:
    """Build the optimizer ``spec.name`` over ``params``."""
    return OPTIMIZERS.get(spec.name)(params, spec)


def make_schedule(optimizer: torch.optim.Optimizer, spec: ScheduleSpec, epochs: int, per_epoch: int
                  ) -> torch.optim.lr_scheduler.LambdaLR | None:
    """A per-step LambdaLR: the named schedule, preceded by linear warmup over ``warmup_epochs``.

    A constant rate without warmup needs no scheduler, so none is made (None).
    """
    total = max(1, epochs * per_epoch)
    warmup = int(spec.warmup_epochs * per_epoch)
    if spec.name == "constant" and warmup == 0:
        return None
    shape = SCHEDULES.get(spec.name)(spec, max(1, total - warmup), per_epoch)

    def multiplier(i: int) -> float:
        if i < warmup:
            return (i + 1) / (warmup + 1)
        return shape(i - warmup)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)


class Optimizers:
    """A step's named optimizers seen as one (param groups and state dict concatenated), for checkpoints.

    Parameter indices in the state dict run on from one optimizer to the next, so
    the saved layout is that of one optimizer over all their parameter groups.
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        """Every optimizer's parameter groups, in order."""
        return [g for opt in self.optimizers.values() for g in opt.param_groups]

    def state_dict(self) -> dict:
        """One state dict: each optimizer's, its parameter indices shifted past the ones before it."""
        state, groups, offset = {}, [], 0
        for opt in self.optimizers.values():
            saved = opt.state_dict()
            state.update({pid + offset: entries for pid, entries in saved["state"].items()})
            groups += [{**g, "params": [pid + offset for pid in g["params"]]} for g in saved["param_groups"]]
            offset += sum(len(g["params"]) for g in opt.param_groups)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, saved: dict) -> None:
        """Split a state dict made by :meth:`state_dict` back among the optimizers."""
        groups, offset = list(saved["param_groups"]), 0
        for opt in self.optimizers.values():
            mine, groups = groups[: len(opt.param_groups)], groups[len(opt.param_groups):]
            count = sum(len(g["params"]) for g in opt.param_groups)
            opt.load_state_dict({
                "state": {pid - offset: v for pid, v in saved["state"].items() if offset <= pid < offset + count},
                "param_groups": [{**g, "params": [pid - offset for pid in g["params"]]} for g in mine]})
            offset += count


class Schedules:
    """A step's named schedules seen as one, for checkpoints (its state dict is theirs by name)."""

    def __init__(self, schedules: dict[str, torch.optim.lr_scheduler.LambdaLR]) -> None:
        self.schedules = schedules

    @classmethod
    def of(cls, schedules: dict[str, torch.optim.lr_scheduler.LambdaLR | None]) -> Schedules | None:
        """The named schedules as one; None when no optimizer has one (a constant rate)."""
        made = {name: s for name, s in schedules.items() if s is not None}
        return cls(made) if made else None

    def state_dict(self) -> dict:
        """Each schedule's state dict, by name."""
        return {name: s.state_dict() for name, s in self.schedules.items()}

    def load_state_dict(self, saved: dict) -> None:
        """Give each schedule its saved state."""
        for name, s in self.schedules.items():
            s.load_state_dict(dict(saved[name]))
