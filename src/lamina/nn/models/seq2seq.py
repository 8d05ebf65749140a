"""Encoder-decoder (seq2seq) models: an LSTM or GRU pair with or without attention, and a Transformer.

A sample's input is ``[source | decoder input]`` token ids, (B, S + T), where the
decoder input is ``<bos>`` followed by the target shifted right (see
``lamina.data.pairs``); the output is next-token logits for every target step,
(B, T, V). Training is teacher forcing through the normal loop. Generation goes
through ``encode(source) -> memory`` and ``decode(memory, prefix) -> logits``,
which ``lamina.nn.decoding`` drives for greedy and beam search; ``memory`` is a
tuple of batch-first tensors, so a decoder can reorder it per beam.

The recurrent decoder attends Luong-style: its states query the encoder's
states (additive or scaled dot-product scoring), and each output reads
``tanh(W [state; context])``. Without attention the whole source must squeeze
through the encoder's final state, which is what attention relieves.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from lamina.errors import ShapeError
from lamina.nn.attend import make_attention
from lamina.nn.attention import BlockArgs, EncoderBlock, Positional
from lamina.nn.decoder import DecoderArgs, DecoderBlock
from lamina.nn.layers import Args, Shape, layer
from lamina.nn.models.preset import Chain, Options, preset
from lamina.nn.sequence import init_forget_bias

Memory = tuple[torch.Tensor, ...]


class Seq2SeqArgs(Options):
    kind: Literal["lstm", "gru", "transformer"] = "transformer"
    dim: int = Field(64, gt=0)
    units: int = Field(128, gt=0)
    depth: int = Field(2, gt=0)  # stacked recurrent layers, or blocks on each side
    heads: int = Field(4, gt=0)
    ff: int | None = Field(None, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    norm: Literal["pre", "post"] = "pre"
    attention: Literal["additive", "dot", "none"] = "additive"


class Seq2SeqLayerArgs(Seq2SeqArgs, Args):
    source_length: int = Field(gt=0)
    vocab: int = Field(gt=4)


class Seq2Seq(nn.Module):
    """What both kinds share: the split of the input into source and decoder input, and teacher forcing.

    Subclasses define ``encode(source) -> Memory`` and ``decode(memory, prefix) -> logits (B, t, V)``.
    """

    source_length: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        source, decoder_in = x[:, : self.source_length], x[:, self.source_length :]  # (B, S), (B, T)
        return self.decode(self.encode(source), decoder_in)  # (B, T, V)


class RecurrentSeq2Seq(Seq2Seq):
    """LSTM/GRU encoder and decoder; the decoder starts from the encoder's final state and may attend to all of it."""

    def __init__(self, a: Seq2SeqLayerArgs) -> None:
        super().__init__()
        self.source_length = a.source_length
        cell = nn.LSTM if a.kind == "lstm" else nn.GRU
        drop = a.dropout if a.depth > 1 else 0.0
        self.embed = nn.Embedding(a.vocab, a.dim, padding_idx=0)
        self.encoder = cell(a.dim, a.units, a.depth, batch_first=True, dropout=drop)
        self.decoder = cell(a.dim, a.units, a.depth, batch_first=True, dropout=drop)
        if a.kind == "lstm":
            init_forget_bias(self.encoder)
            init_forget_bias(self.decoder)
        self.attend = None if a.attention == "none" else make_attention(a.attention, a.units, a.units)
        self.combine = nn.Linear(2 * a.units, a.units) if self.attend is not None else None
        self.out = nn.Linear(a.units, a.vocab)

    def encode(self, source: torch.Tensor) -> Memory:
        mask = source == 0  # (B, S) True at padding
        x = self.embed(source)  # (B, S, D)
        if bool(mask.any()):
            lengths = (~mask).sum(1).clamp(min=1).cpu()  # (B,)
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            states, last = self.encoder(packed)
            states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=source.shape[1])
        else:
            states, last = self.encoder(x)  # (B, S, H)
        last = last if isinstance(last, tuple) else (last,)  # each (layers, B, H)
        return (states, mask, *(s.transpose(0, 1) for s in last))  # batch-first throughout

    def decode(self, memory: Memory, prefix: torch.Tensor) -> torch.Tensor:
        states, mask, *last = memory
        start = tuple(s.transpose(0, 1).contiguous() for s in last)  # each (layers, B, H)
        out, _ = self.decoder(self.embed(prefix), start if len(start) > 1 else start[0])  # (B, t, H)
        if self.attend is not None:
            context, _ = self.attend(out, states, states, mask)  # (B, t, H)
            out = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))  # (B, t, H)
        return self.out(out)  # (B, t, V)


class TransformerSeq2Seq(Seq2Seq):
    """Transformer encoder over the source; causal decoder blocks that cross-attend to it."""

    def __init__(self, a: Seq2SeqLayerArgs, target_length: int) -> None:
        super().__init__()
        if a.dim % a.heads:
            raise ShapeError(f"model.dim {a.dim} must be divisible by model.heads; got heads={a.heads}")
        self.source_length = a.source_length
        self.embed = nn.Embedding(a.vocab, a.dim, padding_idx=0)
        self.positions = Positional("sinusoidal", max(a.source_length, target_length), a.dim)
        block = BlockArgs(heads=a.heads, ff=a.ff, dropout=a.dropout, norm=a.norm)
        self.encoder = nn.ModuleList(EncoderBlock(a.dim, block) for _ in range(a.depth))
        decoder = DecoderArgs(heads=a.heads, ff=a.ff, dropout=a.dropout, norm=a.norm)
        self.decoder = nn.ModuleList(DecoderBlock(a.dim, decoder) for _ in range(a.depth))
        pre = a.norm == "pre"  # pre-norm stacks end with a norm; post-norm blocks already end with one
        self.encoder_norm = nn.LayerNorm(a.dim) if pre else nn.Identity()
        self.decoder_norm = nn.LayerNorm(a.dim) if pre else nn.Identity()
        self.drop = nn.Dropout(a.dropout)
        self.out = nn.Linear(a.dim, a.vocab)

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.drop(self.positions(self.embed(ids)))  # (B, T, D): unit-scale embeddings, so positions count

    def encode(self, source: torch.Tensor) -> Memory:
        mask = source == 0  # (B, S)
        x = self._embed(source)
        for block in self.encoder:
            x = block(x, mask)  # (B, S, D)
        return self.encoder_norm(x), mask

    def decode(self, memory: Memory, prefix: torch.Tensor) -> torch.Tensor:
        states, source_mask = memory
        x = self._embed(prefix)  # (B, t, D)
        mask = prefix == 0  # (B, t) padding after the target's end
        mask[:, 0] = False  # <bos> is never padding
        for block in self.decoder:
            x = block(x, mask, memory=states, memory_mask=source_mask)  # (B, t, D)
        return self.out(self.decoder_norm(x))  # (B, t, V)


@layer("seq2seq", Seq2SeqLayerArgs, ranks=(1,), example_input=(12,), tokens=8,
       example_args={"source_length": 6, "vocab": 8, "dim": 8, "units": 8, "depth": 1, "heads": 2, "dropout": 0.0})
def seq2seq_layer(shape: Shape, a: Seq2SeqLayerArgs) -> nn.Module:
    """Encoder-decoder over [source | decoder input] token ids -> next-token logits (target length, vocab)."""
    target_length = shape[0] - a.source_length
    if target_length < 1:
        raise ShapeError(f"seq2seq: source_length {a.source_length} leaves no target steps in an input of {shape[0]}")
    return TransformerSeq2Seq(a, target_length) if a.kind == "transformer" else RecurrentSeq2Seq(a)


@preset("seq2seq", Seq2SeqArgs, {"data": {"dataset": "reverse"},
                                 "model": {"arch": "seq2seq", "dim": 16, "depth": 1, "heads": 2, "dropout": 0.0}})
def seq2seq(o: Seq2SeqArgs, input_shape: tuple[int, ...], n_outputs: int | tuple[int, ...]) -> Chain:
    """Encoder-decoder: lstm/gru (attention additive, dot or none) or transformer; greedy or beam decoding."""
    if not isinstance(n_outputs, tuple) or len(n_outputs) != 2 or len(input_shape) != 1:
        raise ShapeError("model.arch 'seq2seq' needs paired sequences (a builtin pair set such as data.dataset: "
                         f"reverse, or a CSV with data.task: seq2seq); got inputs {input_shape} and outputs {n_outputs}")
    target_length, vocab = n_outputs
    return [{"seq2seq": {**o.model_dump(), "source_length": input_shape[0] - target_length, "vocab": vocab}}]
