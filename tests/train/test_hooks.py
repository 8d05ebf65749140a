"""Feature hooks: every listed feature module registers one, in the order training needs."""

from __future__ import annotations

import pytest

from lamina.config import parse_run_spec
from lamina.registry import HOOK_MODULES
from lamina.train.hooks import HOOKS, STAGES, Setup, apply_hooks


def test_every_hook_module_registers_a_hook_of_a_known_stage() -> None:
    """Each module of the entry list registers a hook; each hook runs at one of the trainer's stages."""
    hooks = [entry.obj for entry in HOOKS.ordered()]
    assert sorted({h.apply.__module__ for h in hooks}) == sorted(HOOK_MODULES)
    assert {h.stage for h in hooks} <= set(STAGES)


def test_adversarial_training_comes_before_freezing() -> None:
    """The attack restores train mode on the whole model; the backbone's Freezing must switch frozen layers back after it."""
    names = [entry.name for entry in HOOKS.ordered()]
    assert names.index("train.adversarial") < names.index("model.backbone")


def test_inactive_hooks_leave_the_setup_alone() -> None:
    """A spec that turns no feature on gets no callbacks, observers or finishers."""
    spec = parse_run_spec({"data": {"dataset": "iris"}, "model": {"layers": [{"dense": 3}]}, "train": {"diagnose": False}})
    setup = Setup(spec, data=None)  # type: ignore[arg-type]  # no active hook reads it
    for stage in STAGES:
        apply_hooks(stage, setup)
    assert (setup.callbacks, setup.observers, setup.finishers, setup.data) == ([], [], [], None)


def test_an_unknown_stage_is_a_programming_error() -> None:
    """A stage name typed wrong in the trainer fails loudly instead of running no hook."""
    with pytest.raises(ValueError, match="hook stage"):
        apply_hooks("after", Setup(None, None))  # type: ignore[arg-type]
