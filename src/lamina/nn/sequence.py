"""Sequence layers: token embeddings, recurrent layers (rnn, lstm, gru) and sequence pooling.

Sequences are shaped ``(length, features)`` per sample, so a batch is ``(B, T, C)``.
An embedding with a padding index defines a padding mask that the chain hands to
the layers that need it: recurrent layers pack the sequences so padding never
enters their state, and pooling ignores padded positions. Padding goes at the end.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from lamina.errors import DataError, ShapeError
from lamina.nn.layers import Args, Shape, layer


class EmbeddingArgs(Args):
    dim: int = Field(gt=0)
    vocab: int | None = Field(None, gt=1)  # None: the data's vocabulary size (see build_model)
    padding_index: int | None = Field(0, ge=0)


class RecurrentArgs(Args):
    units: int = Field(gt=0)
    layers: int = Field(1, gt=0)
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0, lt=1)
    return_sequences: bool = False


class SeqPoolArgs(Args):
    mode: Literal["mean", "max", "last", "first"] = "mean"


class Embedding(nn.Module):
    """Token ids (B, T) -> vectors (B, T, D); ids equal to ``padding_index`` map to zeros and are masked."""

    def __init__(self, vocab: int, dim: int, padding_index: int | None) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=padding_index)
        self.padding_index = padding_index

    def padding_mask(self, ids: torch.Tensor) -> torch.Tensor | None:
        """True where the id is the padding index, (B, T); None without a padding index."""
        return None if self.padding_index is None else ids == self.padding_index

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.is_floating_point():
            raise DataError(
                f"layer embedding takes integer token ids; got {ids.dtype} values. A text or token model needs "
                "token data (a text CSV with data.text, or a token dataset), not numeric features"
            )
        vocab = self.embed.num_embeddings
        if ids.numel() and (int(ids.max()) >= vocab or int(ids.min()) < 0):
            raise DataError(f"token id {int(ids.max())} is outside the embedding's vocab of {vocab}; "
                            "leave the embedding's vocab out so it is taken from the data, or set it to the data's vocabulary size")
        return self.embed(ids)  # (B, T, D)


class Recurrent(nn.Module):
    """A stacked (optionally bidirectional) rnn/lstm/gru over (B, T, C); padded steps are packed away."""

    takes_mask = True

    def __init__(self, kind: str, features: int, a: RecurrentArgs, steps: int) -> None:
        super().__init__()
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.cell = cls(features, a.units, num_layers=a.layers, batch_first=True, bidirectional=a.bidirectional,
                        dropout=a.dropout if a.layers > 1 else 0.0)
        self.return_sequences = a.return_sequences
        self.directions = 2 if a.bidirectional else 1
        if kind in ("lstm", "gru"):
            init_gate_biases(self.cell, kind, steps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        steps = x.shape[1]
        if mask is not None and bool(mask.any()):
            lengths = (~mask).sum(dim=1).clamp(min=1).cpu()  # (B,)
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, state = self.cell(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=steps)  # (B, T, H*dirs)
        else:
            out, state = self.cell(x)  # (B, T, H*dirs)
        if self.return_sequences:
            return out
        h = state[0] if isinstance(state, tuple) else state  # (layers*dirs, B, H)
        return torch.cat(list(h[-self.directions:]), dim=-1)  # (B, H*dirs): last valid step of each direction


def init_gate_biases(cell: nn.RNNBase, kind: str, steps: int) -> None:
    """Chrono initialization (Tallec & Ollivier 2018) of a gated cell for sequences of ``steps``.

    The gate that keeps memory (the LSTM's forget gate, the GRU's update gate) gets biases
    log(U(1, steps - 1)), so units start out keeping their state over time scales spread up to
    the sequence length, and the LSTM's input gate the opposite bias. With the usual bias of 1 a
    cell keeps about 0.73 of its state per step, 1e-7 after 50 steps, and a dependency that far
    back sends no gradient to learn from; with chrono biases it does.
    """
    gates = {"lstm": 4, "gru": 3}[kind]  # torch gate order: lstm (input, forget, cell, output); gru (reset, update, new)
    with torch.no_grad():
        for name, bias in cell.named_parameters():
            if not name.startswith("bias"):
                continue
            bias.zero_()
            if name.startswith("bias_ih"):
                hidden = bias.shape[0] // gates
                keep = torch.log(torch.empty(hidden).uniform_(1.0, max(2.0, steps - 1.0)))  # (H,)
                bias[hidden : 2 * hidden] = keep
                if kind == "lstm":
                    bias[:hidden] = -keep


def init_forget_bias(lstm: nn.LSTM) -> None:
    """Start the forget gates open (bias 1, Jozefowicz et al. 2015) so memory is kept until learned otherwise."""
    with torch.no_grad():
        for name, bias in lstm.named_parameters():
            if name.startswith("bias_ih"):
                hidden = bias.shape[0] // 4
                bias[hidden : 2 * hidden].fill_(1.0)  # gate order: input, forget, cell, output


class SeqPool(nn.Module):
    """(B, T, C) -> (B, C) by mean, max, first or last step, skipping padded steps."""

    takes_mask = True

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)  # (B, T)
        keep = (~mask).unsqueeze(-1)  # (B, T, 1)
        if self.mode == "mean":
            return (x * keep).sum(1) / keep.sum(1).clamp(min=1)  # (B, C)
        if self.mode == "max":
            return x.masked_fill(~keep, float("-inf")).amax(1)  # (B, C)
        if self.mode == "first":
            return x[:, 0]  # (B, C)
        last = (keep.squeeze(-1).sum(1) - 1).clamp(min=0)  # (B,)
        return x[torch.arange(len(x), device=x.device), last]  # (B, C)


@layer("embedding", EmbeddingArgs, primary="dim", ranks=(1,), example_input=(7,),
       example_args={"dim": 4, "vocab": 10}, tokens=10)
def embedding(shape: Shape, a: EmbeddingArgs) -> nn.Module:
    """Token ids (length,) -> vectors (length, dim); the padding index (0 by default) is masked downstream."""
    if a.vocab is None:
        raise ShapeError("embedding needs vocab: token data sets it (data.text or a token dataset); "
                         "for a chain built by hand give {embedding: {dim: ..., vocab: ...}}")
    return Embedding(a.vocab, a.dim, a.padding_index)


def _recurrent(kind: str):
    def build(shape: Shape, a: RecurrentArgs) -> nn.Module:
        return Recurrent(kind, shape[-1], a, shape[0])

    build.__doc__ = (f"{kind.upper()} over (length, features): stacked, optionally bidirectional; "
                     "returns the last state, or every step with return_sequences.")
    return build


for _kind in ("rnn", "lstm", "gru"):
    layer(_kind, RecurrentArgs, primary="units", ranks=(2,), example_input=(6, 3), example_args={"units": 5})(
        _recurrent(_kind))


@layer("seqpool", SeqPoolArgs, primary="mode", ranks=(2,), example_input=(6, 3))
def seqpool(shape: Shape, a: SeqPoolArgs) -> nn.Module:
    """Pool a sequence (length, features) -> (features,) by mean, max, first or last step (padding skipped)."""
    return SeqPool(a.mode)
