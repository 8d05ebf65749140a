"""Turn a model spec into a torch module for a given input shape and output size."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from lamina.config import AUTO_ARCH, ModelSpec
from lamina.errors import ConfigError, LaminaWarning, ShapeError
from lamina.nn.auto import choose_model
from lamina.nn.layers import LayerInfo, build_chain, count_params, parse_chain
from lamina.registry import INITIALIZERS, PRESETS


class ChainModel(nn.Module):
    """A built chain: ``layers`` run in order. Its state dict keys are ``layers.<i>.<param>``."""

    def __init__(self, layers: nn.Sequential, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.layers = layers
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(output_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (B, *input_shape) -> (B, *output_shape)


@dataclass
class Built:
    """A built model with the rows of its summary table."""

    model: ChainModel
    rows: list[LayerInfo]

    @property
    def params(self) -> int:
        """Trainable parameter count."""
        return count_params(self.model)


def chain_items(spec: ModelSpec, input_shape: tuple[int, ...], n_outputs: int | tuple[int, ...]) -> list:
    """The layer items a spec stands for: the chain itself, or what its preset makes."""
    if spec.layers is not None:
        return spec.layers
    preset = PRESETS.get(spec.arch, "model.arch")
    options = preset.options.model_validate(spec.preset_options())
    return preset.chain(options, tuple(input_shape), n_outputs)


def build_model(spec: ModelSpec, input_shape: tuple[int, ...], n_outputs: int | tuple[int, ...],
                vocab: int | None = None, categories: list[list[int]] | None = None, task: str | None = None) -> Built:
    """Build and initialize the model; the output must be ``(n_outputs,)`` for the task.

    ``n_outputs`` may be a whole output shape instead, such as (target length, vocabulary) for seq2seq.
    What the data knows flows in here so users never type it: ``vocab`` (token inputs: the vocabulary
    size, filled into embedding layers) and ``categories`` (categorical columns encoded for embeddings:
    their input positions and sizes, which put a category_embedding layer first). With ``task`` (a model
    about to be trained or shown), a chain whose output layer would fight the loss gets a warning.
    """
    wanted = tuple(n_outputs) if isinstance(n_outputs, tuple) else (n_outputs,)
    if spec.arch == AUTO_ARCH:  # a run resolves auto before it saves its config; elsewhere it is resolved here
        spec = choose_model(tuple(input_shape), vocab, task, wanted).spec
    if len(wanted) == 2 and not makes_sequences(spec):
        where = "model.layers" if spec.layers is not None else f"model.arch '{spec.arch}'"
        raise ConfigError(
            f"{where} cannot learn this data: its targets are token sequences (length {wanted[0]}, vocabulary "
            f"{wanted[1]}), a seq2seq task. Use model.arch: seq2seq (see examples/reverse_transformer.yaml) "
            "or a chain of one seq2seq layer")
    if spec.backbone is not None:
        from lamina.nn.backbone import backbone_chain

        items, path = backbone_chain(spec.backbone, spec.layers, tuple(input_shape), wanted[-1])
    else:
        path = "model.layers" if spec.layers is not None else f"model.arch '{spec.arch}' layers"
        items = chain_items(spec, input_shape, wanted[0] if len(wanted) == 1 else wanted)
    calls = parse_chain(with_data_facts(items, vocab, categories), path)
    check_input_kind(calls, input_shape, vocab)
    if task is not None:
        warn_on_output_activation(calls, task)
    layers, out_shape, rows = build_chain(calls, tuple(input_shape))
    if out_shape != wanted:
        raise ShapeError(
            f"{path}: the chain outputs shape {out_shape} but the task needs {wanted}; "
            f"end the chain with {{dense: {wanted[-1]}}}" + (" after a flatten layer" if len(out_shape) > 1 else "")
        )
    model = ChainModel(layers, tuple(input_shape), out_shape)
    INITIALIZERS.get(spec.init, "model.init")(model)
    return Built(model, rows)


def makes_sequences(spec: ModelSpec) -> bool:
    """Whether the model generates a target sequence: the seq2seq preset, or a chain ending in a seq2seq layer."""
    if spec.layers is None:
        return spec.arch == "seq2seq"
    last = spec.layers[-1] if spec.layers else None
    return last == "seq2seq" or (isinstance(last, dict) and "seq2seq" in last)


def with_data_facts(items: list, vocab: int | None, categories: list[list[int]] | None) -> list:
    """The chain with the data's vocabulary size set on embeddings that leave it out, and category embeddings first."""
    out = [_with_args(item, "embedding", "dim", {"vocab": vocab}) if vocab is not None else item for item in items]
    if categories and out and _layer_name(out[0]) == "category_embedding":
        out[0] = _with_args(out[0], "category_embedding", "dim", {"categories": categories})
    elif categories:
        out.insert(0, {"category_embedding": {"categories": categories}})
    return out


def _layer_name(item) -> str | None:
    """The layer name of a chain item (``relu`` or ``{dense: 8}``), None for anything else."""
    if isinstance(item, str):
        return item
    return next(iter(item)) if isinstance(item, dict) and len(item) == 1 else None


def _with_args(item, name: str, primary: str, defaults: dict) -> object:
    """``item`` with ``defaults`` added to its arguments when it is the layer ``name``; otherwise ``item`` itself."""
    if _layer_name(item) != name:
        return item
    value = None if isinstance(item, str) else item[name]
    args = dict(value) if isinstance(value, dict) else {} if value is None else {primary: value}
    return {name: {**defaults, **args}}


def check_input_kind(calls: list, input_shape: tuple[int, ...], vocab: int | None) -> None:
    """Refuse a model whose first layer expects token ids for numeric data, or numeric features for token ids."""
    first = calls[0]
    takes_tokens = first.layer.tokens is not None
    if takes_tokens and vocab is None:
        raise ShapeError(
            f"{first.path} takes integer token ids, but the data gives numeric features of shape {tuple(input_shape)}. "
            "A text model needs text data: set data.text (a CSV text column) or use a token dataset such as recall"
        )
    if vocab is not None and not takes_tokens:
        raise ShapeError(
            f"the data gives token ids (a vocabulary of {vocab}), but {first.path} takes numeric features. "
            "Start model.layers with an embedding layer, or use model.arch: sequence"
        )


def warn_on_output_activation(calls: list, task: str) -> None:
    """Warn when a classifier's chain ends in softmax (or a binary one's in sigmoid), naming the layer.

    lamina's classification losses take logits and apply softmax (multiclass) or sigmoid (binary)
    themselves, as its predictions and metrics do; a chain that applies one first feeds them
    probabilities where they expect logits.
    """
    last = calls[-1]
    name = last.layer.name
    if (name == "softmax" and task in ("binary", "multiclass")) or (name == "sigmoid" and task == "binary"):
        applied = "softmax" if task == "multiclass" else "sigmoid"
        warnings.warn(f"{last.path} ends the chain, but the {task} loss takes logits and applies {applied} itself, "
                      f"so training would see probabilities squashed again; drop the layer (predictions and metrics "
                      f"apply {applied} already)", LaminaWarning, stacklevel=3)
