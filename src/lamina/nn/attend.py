"""Query-key attention: additive (Bahdanau) and scaled dot-product (Luong, Vaswani) scoring.

``AdditiveAttention`` and ``DotProductAttention`` take queries (B, Q, Dq), keys
(B, T, Dk) and values (B, T, Dv) with an optional padding mask (B, T), True at
padded keys, and return the context (B, Q, Dv) and the weights (B, Q, T). The
seq2seq presets use them between decoder and encoder; the ``attention`` layer
puts them in a chain, pooling a sequence with a learned query or letting every
step attend to every other.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from lamina.nn.layers import Args, Shape, layer


class AttentionArgs(Args):
    kind: Literal["additive", "dot"] = "additive"
    mode: Literal["pool", "self"] = "pool"
    units: int | None = Field(None, gt=0)


def weigh(scores: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax ``scores`` (B, Q, T) over unmasked keys and average ``values`` (B, T, Dv) with those weights."""
    if mask is not None:
        scores = scores.masked_fill(mask.unsqueeze(1), float("-inf"))  # (B, Q, T)
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # a row with every key padded gets no weight
    return weights @ values, weights  # (B, Q, Dv), (B, Q, T)


class AdditiveAttention(nn.Module):
    """score(q, k) = v . tanh(Wq q + Wk k): a small net compares each query with each key (Bahdanau et al. 2015)."""

    def __init__(self, query_dim: int, key_dim: int, units: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_dim, units, bias=False)
        self.key = nn.Linear(key_dim, units)
        self.score = nn.Linear(units, 1, bias=False)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = torch.tanh(self.query(query).unsqueeze(2) + self.key(keys).unsqueeze(1))  # (B, Q, T, U)
        return weigh(self.score(hidden).squeeze(-1), values, mask)  # scores (B, Q, T)


class DotProductAttention(nn.Module):
    """score(q, k) = (W q) . k / sqrt(d): queries projected to the key size, then scaled dot products."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_dim, key_dim, bias=False)
        self.scale = 1.0 / math.sqrt(key_dim)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.query(query) @ keys.transpose(1, 2) * self.scale  # (B, Q, T)
        return weigh(scores, values, mask)


def make_attention(kind: str, query_dim: int, key_dim: int, units: int | None = None) -> nn.Module:
    """An attention module of ``kind`` ('additive' or 'dot') from queries of ``query_dim`` to keys of ``key_dim``."""
    if kind == "additive":
        return AdditiveAttention(query_dim, key_dim, units or key_dim)
    return DotProductAttention(query_dim, key_dim)


class AttentionLayer(nn.Module):
    """Attention in a chain: pool (B, T, C) -> (B, C) with a learned query, or self mode (B, T, C) -> (B, T, C)."""

    takes_mask = True

    def __init__(self, dim: int, a: AttentionArgs) -> None:
        super().__init__()
        self.attend = make_attention(a.kind, dim, dim, a.units)
        self.pool = a.mode == "pool"
        if self.pool:
            self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02)  # (1, 1, C)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pool:
            context, _ = self.attend(self.query.expand(len(x), -1, -1), x, x, mask)  # (B, 1, C)
            return context.squeeze(1)  # (B, C)
        context, _ = self.attend(x, x, x, mask)  # (B, T, C)
        return context


@layer("attention", AttentionArgs, primary="kind", ranks=(2,), example_input=(6, 4))
def attention(shape: Shape, a: AttentionArgs) -> nn.Module:
    """Additive or scaled dot-product attention over (length, features): pool to (features,) or attend to itself."""
    return AttentionLayer(shape[1], a)
