"""Attention layers: positional encodings, multi-head self-attention and Transformer encoder blocks.

All take sequences ``(B, T, C)``. Self-attention honours the chain's padding mask
(padded keys get no weight) and, with ``causal: true``, a causal mask (step t
attends to steps <= t only). Blocks are pre-norm (``x + f(norm(x))``, stable when
deep) or post-norm (``norm(x + f(x))``, the original Transformer).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from lamina.errors import ShapeError
from lamina.nn.layers import Args, Shape, layer


class PositionalArgs(Args):
    kind: Literal["sinusoidal", "learned"] = "sinusoidal"
    max_length: int | None = Field(None, gt=0)


class SelfAttentionArgs(Args):
    heads: int = Field(gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    causal: bool = False


class BlockArgs(Args):
    heads: int = Field(4, gt=0)
    ff: int | None = Field(None, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    norm: Literal["pre", "post"] = "pre"
    causal: bool = False


def causal_mask(steps: int, device: torch.device | None = None) -> torch.Tensor:
    """(T, T) bool, True above the diagonal: step t may not attend to any later step."""
    return torch.ones(steps, steps, dtype=torch.bool, device=device).triu(1)


class Positional(nn.Module):
    """Adds a position signal to (B, T, C): fixed sinusoids or a learned table, up to ``max_length`` steps."""

    def __init__(self, kind: str, max_length: int, dim: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "learned":
            self.table = nn.Parameter(torch.randn(max_length, dim) * 0.02)  # (T_max, C)
        else:
            position = torch.arange(max_length).unsqueeze(1)  # (T_max, 1)
            rate = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))  # (ceil(C/2),)
            table = torch.zeros(max_length, dim)
            table[:, 0::2] = torch.sin(position * rate)
            table[:, 1::2] = torch.cos(position * rate)[:, : dim // 2]
            self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.table.shape[0]:
            raise ShapeError(f"positional encoding holds {self.table.shape[0]} steps; got a sequence of {x.shape[1]}")
        return x + self.table[: x.shape[1]]  # (B, T, C)


class Projections(nn.Module):
    """The query/key/value projection (one fused (3C, C) matrix) and the output projection of multi-head attention.

    Parameter names and initialization follow ``nn.MultiheadAttention`` (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj``), so run folders saved before attention ran on
    ``scaled_dot_product_attention`` still load, and BERT checkpoints map onto it unchanged.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))  # (3C, C): queries, keys, values stacked
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention over (B, T, C) with padding and causal masks.

    One fused projection makes queries, keys and values, and ``F.scaled_dot_product_attention``
    applies the causal mask itself (``is_causal``) when there is no padding, which lets torch
    pick its fused kernel instead of materializing a (T, T) mask every step.
    """

    takes_mask = True

    def __init__(self, dim: int, heads: int, dropout: float, causal: bool) -> None:
        super().__init__()
        self.attn = Projections(dim)
        self.heads, self.dropout, self.causal = heads, dropout, causal

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t, c = x.shape
        qkv = F.linear(x, self.attn.in_proj_weight, self.attn.in_proj_bias)  # (B, T, 3C)
        q, k, v = qkv.view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # each (B, H, T, C/H)
        keep = None
        if mask is not None:
            keep = ~mask[:, None, None, :]  # (B, 1, 1, T): True where a key may be attended to
            if self.causal:
                keep = keep & ~causal_mask(t, x.device)  # (B, 1, T, T)
        if q.is_cpu and torch.is_autocast_enabled("cpu"):
            # Autocast would run attention in bf16, whose CPU kernel is several times slower than the float32
            # one (forward + backward): attention runs in float32 and hands back autocast's dtype.
            with torch.autocast("cpu", enabled=False):
                out = self.attend(q.float(), k.float(), v.float(), keep).to(torch.get_autocast_dtype("cpu"))
        else:
            out = self.attend(q, k, v, keep)  # (B, H, T, C/H)
        return self.attn.out_proj(out.transpose(1, 2).reshape(b, t, c))  # (B, T, C)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """Scaled dot-product attention of queries, keys and values (B, H, T, C/H) where ``keep`` allows."""
        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=self.dropout if self.training else 0.0,
                                              is_causal=self.causal and keep is None)


class EncoderBlock(nn.Module):
    """Transformer encoder block: self-attention and a feed-forward net, each with a residual and layer norm."""

    takes_mask = True

    def __init__(self, dim: int, a: BlockArgs) -> None:
        super().__init__()
        self.attn = SelfAttention(dim, a.heads, a.dropout, a.causal)
        self.ff = nn.Sequential(nn.Linear(dim, a.ff or 4 * dim), nn.GELU(), nn.Linear(a.ff or 4 * dim, dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop = nn.Dropout(a.dropout)
        self.pre = a.norm == "pre"

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pre:
            x = x + self.drop(self.attn(self.norm1(x), mask))  # (B, T, C)
            return x + self.drop(self.ff(self.norm2(x)))  # (B, T, C)
        x = self.norm1(x + self.drop(self.attn(x, mask)))  # (B, T, C)
        return self.norm2(x + self.drop(self.ff(x)))  # (B, T, C)


def _heads_divide(dim: int, heads: int, name: str) -> None:
    if dim % heads:
        raise ShapeError(f"{name}: the feature size {dim} must be divisible by heads; got heads={heads}")


@layer("positional", PositionalArgs, primary="kind", ranks=(2,), example_input=(6, 4))
def positional(shape: Shape, a: PositionalArgs) -> nn.Module:
    """Add sinusoidal or learned position encodings to a sequence (length, features)."""
    return Positional(a.kind, a.max_length or shape[0], shape[1])


@layer("self_attention", SelfAttentionArgs, primary="heads", ranks=(2,), example_input=(6, 4),
       example_args={"heads": 2})
def self_attention(shape: Shape, a: SelfAttentionArgs) -> nn.Module:
    """Multi-head self-attention over (length, features), with padding and optional causal masks."""
    _heads_divide(shape[1], a.heads, "self_attention")
    return SelfAttention(shape[1], a.heads, a.dropout, a.causal)


@layer("transformer_block", BlockArgs, primary="heads", ranks=(2,), example_input=(6, 4),
       example_args={"heads": 2, "dropout": 0.0})
def transformer_block(shape: Shape, a: BlockArgs) -> nn.Module:
    """Transformer encoder block (pre- or post-norm; causal for decoder-only stacks) over (length, features)."""
    _heads_divide(shape[1], a.heads, "transformer_block")
    return EncoderBlock(shape[1], a)
