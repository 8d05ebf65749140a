"""Models that start with a trained run's layers (a backbone) and end with a new head.

The backbone's layer chain, cut at a named layer, is copied into the new model's
spec when training starts (``model.backbone.layers``), so the new run folder
alone rebuilds the model; the backbone's trained weights are copied in by
:func:`load_backbone_weights`. A pretrained backbone (``pretrained: minilm``) is the same: its chain comes
from the packaged encoder's config.json and its weights from the package (see lamina.nn.minilm). The built model is an ordinary chain: the
backbone's layers come first (``layers.0`` ... ``layers.{n-1}``), the head after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamina.config import BackboneSpec, parse_run_spec, parse_yaml
from lamina.data.preprocess import Preprocessor
from lamina.errors import ConfigError, RunFolderError, ShapeError
from lamina.files import load_tensors, read_json


def resolve_backbone(spec: BackboneSpec) -> None:
    """Fill ``spec.layers`` and ``spec.input_shape`` from the backbone run folder (once), cut at ``spec.cut``."""
    if spec.layers is not None:
        return
    if spec.pretrained is not None:
        from lamina.nn.minilm import packaged_model_dir, pretrained_chain, read_bert_config

        spec.layers = pretrained_chain(read_bert_config(packaged_model_dir()))
        return
    from lamina.nn.build import chain_items

    root = Path(spec.run)
    config, prep = root / "config.yaml", root / "preprocess.json"
    if not config.is_file() or not prep.is_file():
        raise RunFolderError(f"model.backbone.run {root} is not a trained run folder (config.yaml and "
                             "preprocess.json are needed)")
    run_spec = parse_run_spec(parse_yaml(config.read_text(encoding="utf-8", errors="replace"), str(config),
                                         RunFolderError), str(config))
    saved = Preprocessor.from_json(read_json(prep), str(prep))
    shape, outputs = tuple(saved.inputs.shape), saved.target.n_outputs
    if run_spec.model.backbone is not None:
        resolve_backbone(run_spec.model.backbone)
        items = list(run_spec.model.backbone.layers) + list(run_spec.model.layers or [{"dense": outputs}])
    else:
        items = list(chain_items(run_spec.model, shape, outputs))
    spec.layers = items[: cut_index(items, spec.cut) + 1]
    spec.input_shape = list(shape)


def cut_index(items: list[Any], cut: int | str) -> int:
    """The index of the last kept layer: ``cut`` itself (negative from the end) or the last layer named ``cut``."""
    names = [item if isinstance(item, str) else next(iter(item)) for item in items]
    if isinstance(cut, int):
        if not -len(items) <= cut < len(items):
            raise ConfigError(f"model.backbone.cut must be a layer index from {-len(items)} to {len(items) - 1}; "
                              f"got {cut}. The backbone's layers: {', '.join(names)}")
        return cut % len(items)
    if cut not in names:
        raise ConfigError(f"model.backbone.cut must name one of the backbone's layers ({', '.join(names)}); got {cut!r}")
    return len(names) - 1 - names[::-1].index(cut)


def backbone_chain(spec: BackboneSpec, head: list[Any] | None, input_shape: tuple[int, ...], n_outputs: int
                   ) -> tuple[list[Any], str]:
    """The whole chain (backbone then head, a final dense layer by default) and the config path to blame."""
    resolve_backbone(spec)
    if spec.input_shape is not None and tuple(spec.input_shape) != tuple(input_shape):
        raise ShapeError(f"model.backbone.run {spec.run} takes inputs shaped {tuple(spec.input_shape)}; "
                         f"this data's inputs are shaped {tuple(input_shape)}")
    return list(spec.layers) + list(head or [{"dense": n_outputs}]), "model.backbone + model.layers"


def load_backbone_weights(model: nn.Module, spec: BackboneSpec) -> int:
    """Copy the backbone run's trained (or the packaged pretrained) weights into the first ``len(spec.layers)``
    layers; returns tensors copied."""
    if spec.pretrained is not None:
        from lamina.nn.minilm import packaged_model_dir, pretrained_weights

        path = packaged_model_dir() / "model.safetensors"
        weights = pretrained_weights()
    else:
        path = Path(spec.run) / "model.safetensors"
        if not path.is_file():
            raise RunFolderError(f"{path} is missing; the backbone run has no trained weights")
        weights = load_tensors(path)
    own = model.state_dict()
    copied = 0
    for index in range(len(spec.layers)):
        prefix = f"layers.{index}."
        for key in [k for k in own if k.startswith(prefix)]:
            if key not in weights or weights[key].shape != own[key].shape:
                raise RunFolderError(f"{path} does not match the backbone's layers: '{key}' is "
                                     + ("missing" if key not in weights else f"shaped {tuple(weights[key].shape)}"))
            with torch.no_grad():
                own[key].copy_(weights[key])
            copied += 1
    return copied


def layer_groups(layers: nn.Sequential, count: int) -> list[list[int]]:
    """The first ``count`` layers' indices in groups, each starting at a layer with weights (not a norm layer).

    A group is what gradual unfreezing releases at once and what ``backbone.N`` names in
    ``train.lr_groups``: a conv or dense layer with the norm, activation and pooling after it.
    """
    groups: list[list[int]] = []
    for index in range(count):
        module = layers[index]
        weighted = any(True for _ in module.parameters()) and not isinstance(module, NORMS)
        if weighted or not groups:
            groups.append([])
        groups[-1].append(index)
    return groups


NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
