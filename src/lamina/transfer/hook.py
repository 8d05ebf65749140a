"""``model.backbone`` and ``train.lr_groups``: pretrained weights, freezing, cached features and rate groups
join a run (see lamina.train.hooks)."""

from __future__ import annotations

from lamina.config import RunSpec
from lamina.train.hooks import HOOKS, Hook, Setup
from lamina.transfer.setup import plan_training


def uses_transfer(spec: RunSpec) -> bool:
    """Whether the run starts from a backbone or gives layer groups their own learning rates."""
    return spec.model.backbone is not None or bool(spec.train.lr_groups)


def plan_transfer(setup: Setup) -> None:
    """Load the backbone's weights and let the loop train what :func:`plan_training` decides."""
    plan = plan_training(setup.model, setup.spec, setup.data, setup.device)
    setup.model, setup.data, setup.groups = plan.model, plan.data, plan.groups
    setup.callbacks += plan.callbacks


HOOKS.add("model.backbone", Hook("training", uses_transfer, plan_transfer))
