"""What training a model.backbone run needs: pretrained weights, freezing or cached features, rate groups."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lamina.config import RunSpec
from lamina.data.prepare import Prepared
from lamina.errors import LaminaWarning
from lamina.nn.backbone import layer_groups, load_backbone_weights
from lamina.train.callbacks import Callback
from lamina.train.groups import param_groups
from lamina.transfer.features import HeadOnFeatures, cached_features
from lamina.transfer.freezing import Freezing, set_frozen
from lamina.transfer.overlap import backbone_overlap


@dataclass
class Plan:
    """The model and data the loop trains (the head on cached features, or the whole model) and its extras."""

    model: nn.Module
    data: Prepared
    callbacks: list[Callback] = field(default_factory=list)
    groups: list[dict[str, Any]] | None = None
    cached: bool = False


def uses_cache(spec: RunSpec) -> bool:
    """Features can be cached when the frozen backbone sees the same inputs every epoch."""
    b = spec.model.backbone
    return (b is not None and b.freeze and b.unfreeze_every is None and not spec.train.augment
            and spec.train.adversarial is None)


def plan_training(model: nn.Module, spec: RunSpec, data: Prepared, device: torch.device) -> Plan:
    """Load the backbone's weights into ``model`` and decide how it trains (see :class:`Plan`)."""
    backbone = spec.model.backbone
    groups = layer_groups(model.layers, len(backbone.layers)) if backbone is not None else []
    rates = (param_groups(model, spec.train.lr_groups, spec.train.optimizer.lr, groups)
             if spec.train.lr_groups else None)
    if backbone is None:
        return Plan(model, data, groups=rates)
    leak = backbone_overlap(spec)
    if leak is not None:
        warnings.warn(leak, LaminaWarning, stacklevel=2)
    load_backbone_weights(model, backbone)
    count = len(backbone.layers)
    if uses_cache(spec):
        model.to(device)
        set_frozen(model.layers, list(range(count)), count)
        return Plan(HeadOnFeatures(model.layers, count), cached_features(model.layers, count, data, device),
                    groups=rates, cached=True)
    return Plan(model, data, [Freezing(groups, backbone.freeze, backbone.unfreeze_every)], rates)
