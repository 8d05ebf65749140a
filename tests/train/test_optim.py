"""Optimizers and schedules by name."""

from __future__ import annotations

import pytest
import torch

from lamina.config import OptimizerSpec, ScheduleSpec
from lamina.registry import OPTIMIZERS, SCHEDULES
from lamina.train.optim import make_optimizer, make_schedule


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_minimizes_a_quadratic(name: str) -> None:
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = make_optimizer([w], OptimizerSpec(name=name, lr=0.05))
    for _ in range(200):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    assert float((w.detach() ** 2).sum()) < 0.1 * 13


def _rates(name: str, epochs: int = 10, per_epoch: int = 10, **kw) -> list[float]:
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=1.0)
    sched = make_schedule(opt, ScheduleSpec(name=name, **kw), epochs, per_epoch)
    rates = []
    for _ in range(epochs * per_epoch):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return rates


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_stays_positive_and_bounded(name: str) -> None:
    rates = _rates(name)
    assert all(0 < r <= 1.0 + 1e-9 for r in rates)


def test_constant_rate_needs_no_scheduler() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert make_schedule(opt, ScheduleSpec(name="constant"), 5, 10) is None
    assert make_schedule(opt, ScheduleSpec(name="constant", warmup_epochs=1), 5, 10) is not None


def test_schedule_shapes() -> None:
    assert set(_rates("constant")) == {1.0}
    step = _rates("step", step_epochs=3, gamma=0.5)
    assert step[29] == 1.0 and step[30] == 0.5 and step[60] == 0.25
    cosine = _rates("cosine")
    assert cosine[0] == 1.0 and cosine[-1] < 0.01 and all(a >= b for a, b in zip(cosine, cosine[1:]))
    onecycle = _rates("onecycle")
    peak = max(range(len(onecycle)), key=onecycle.__getitem__)
    assert onecycle[0] < 0.1 and 25 <= peak <= 35 and onecycle[-1] < 0.01
    warm = _rates("constant", warmup_epochs=2)
    assert warm[0] < 0.1 and warm[19] < 1.0 and warm[20] == 1.0
    linear = _rates("linear", min_lr_ratio=0.2)
    assert linear[0] == 1.0 and abs(linear[-1] - 0.208) < 0.01
