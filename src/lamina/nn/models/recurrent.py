"""Sequence presets: a classifier/regressor over rnn | lstm | gru | transformer, a forecaster, and a linear
(autoregressive) forecaster, the strong simple baseline to beat.

Token inputs (length,) start with an embedding (its vocabulary comes from the data); numeric
sequences (length, features) enter the recurrent layer directly, or a dense projection to the
Transformer's width. A recurrent body hands on its last state; a Transformer body pools its steps
(padding skipped). One function builds every variant; the presets differ only in defaults.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from lamina.errors import ShapeError
from lamina.nn.models.preset import Chain, Options, preset


class SequenceOptions(Options):
    cell: Literal["rnn", "lstm", "gru", "transformer"] = "lstm"
    embed_dim: int = Field(32, gt=0)
    units: int = Field(64, gt=0)
    depth: int = Field(1, gt=0)  # stacked recurrent layers or Transformer blocks
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0, lt=1)
    heads: int = Field(4, gt=0)
    ff: int | None = Field(None, gt=0)
    positional: Literal["sinusoidal", "learned"] = "sinusoidal"
    pool: Literal["mean", "max", "last", "first", "flatten"] = "mean"
    dense: list[PositiveInt] = Field(default_factory=list)


class ForecasterOptions(SequenceOptions):
    units: int = Field(32, gt=0)
    pool: Literal["mean", "max", "last", "first", "flatten"] = "flatten"


def sequence_chain(o: SequenceOptions, input_shape: tuple[int, ...], n_outputs: int, arch: str) -> Chain:
    """Embedding (tokens) or projection, the sequence body, then a dense head of ``n_outputs``."""
    if len(input_shape) not in (1, 2):
        raise ShapeError(f"model.arch '{arch}' needs token ids (length,) or a sequence (length, features); "
                         f"got input of shape {input_shape}")
    tokens = len(input_shape) == 1
    chain: Chain = []
    if o.cell == "transformer":
        chain.append({"embedding": {"dim": o.units}} if tokens else {"dense": o.units})
        chain.append({"positional": {"kind": o.positional}})
        for _ in range(o.depth):
            chain.append({"transformer_block": {"heads": o.heads, "ff": o.ff, "dropout": o.dropout}})
        chain.append("layernorm")
        chain.append("flatten" if o.pool == "flatten" else {"seqpool": o.pool})
    else:
        if tokens:
            chain.append({"embedding": {"dim": o.embed_dim}})
        chain.append({o.cell: {"units": o.units, "layers": o.depth, "bidirectional": o.bidirectional,
                               "dropout": o.dropout}})
    for units in o.dense:
        chain += [{"dense": units}, "relu"]
    chain.append({"dense": n_outputs})
    return chain


@preset("sequence", SequenceOptions, {"data": {"dataset": "reviews"},
                                      "model": {"arch": "sequence", "cell": "gru", "units": 32},
                                      "train": {"epochs": 6, "optimizer": {"lr": 0.01}}})
def sequence(o: SequenceOptions, input_shape: tuple[int, ...], n_outputs: int) -> Chain:
    """Sequence classifier or regressor: rnn, lstm, gru or Transformer encoder over tokens or numeric steps."""
    return sequence_chain(o, input_shape, n_outputs, "sequence")


@preset("forecaster", ForecasterOptions, {"data": {"dataset": "seasonal"},
                                          "model": {"arch": "forecaster", "cell": "gru", "units": 16},
                                          "train": {"epochs": 4, "optimizer": {"lr": 0.01}}})
def forecaster(o: ForecasterOptions, input_shape: tuple[int, ...], n_outputs: int) -> Chain:
    """Forecaster: a window of (steps, features) in, the next horizon steps out (rnn, lstm, gru or Transformer)."""
    if len(input_shape) != 2:
        raise ShapeError(f"model.arch 'forecaster' needs windows shaped (steps, features); got {input_shape}. "
                         "Set data.series (window, horizon) to cut a CSV's series into windows")
    return sequence_chain(o, input_shape, n_outputs, "forecaster")


class LinearForecasterOptions(Options):
    pass


@preset("linear_forecaster", LinearForecasterOptions,
        {"data": {"dataset": "seasonal"}, "model": {"arch": "linear_forecaster"},
         "train": {"epochs": 20, "l2": 0.001, "optimizer": {"lr": 0.01}}})
def linear_forecaster(o: LinearForecasterOptions, input_shape: tuple[int, ...], n_outputs: int) -> Chain:
    """Linear autoregressive forecaster: each future step a weighted sum of the window (ridge with train.l2)."""
    if len(input_shape) != 2:
        raise ShapeError(f"model.arch 'linear_forecaster' needs windows shaped (steps, features); got {input_shape}. "
                         "Set data.series (window, horizon) to cut a CSV's series into windows")
    return ["flatten", {"dense": n_outputs}]
