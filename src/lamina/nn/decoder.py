"""The Transformer decoder block: causal self-attention, cross-attention to an encoder's memory, feed-forward.

Each of the three sub-layers has a residual connection and a layer norm, placed
before it (pre-norm, ``x + f(norm(x))``) or after it (post-norm, the original
``norm(x + f(x))``). Self-attention is always causal: step t sees steps <= t
only, so a decoder trained with teacher forcing can generate one step at a time.
In a layer chain there is no encoder, so the block is a decoder-only (GPT) block
without cross-attention; the seq2seq presets give it the encoder's memory.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from lamina.errors import ShapeError
from lamina.nn.attention import causal_mask
from lamina.nn.layers import Args, Shape, layer


class DecoderArgs(Args):
    heads: int = Field(4, gt=0)
    ff: int | None = Field(None, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    norm: Literal["pre", "post"] = "pre"


class DecoderBlock(nn.Module):
    """Causal self-attention, optional cross-attention to ``memory``, and a feed-forward net, over (B, T, C)."""

    takes_mask = True

    def __init__(self, dim: int, a: DecoderArgs, cross: bool = True) -> None:
        super().__init__()
        if dim % a.heads:
            raise ShapeError(f"decoder block: the feature size {dim} must be divisible by heads; got heads={a.heads}")
        self.self_attn = nn.MultiheadAttention(dim, a.heads, dropout=a.dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, a.heads, dropout=a.dropout, batch_first=True) if cross else None
        width = a.ff or 4 * dim
        self.ff = nn.Sequential(nn.Linear(dim, width), nn.GELU(), nn.Linear(width, dim))
        self.norm_self, self.norm_ff = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.norm_cross = nn.LayerNorm(dim) if cross else None
        self.drop = nn.Dropout(a.dropout)
        self.pre = a.norm == "pre"

    def _self(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        future = causal_mask(x.shape[1], x.device)  # (T, T)
        return self.self_attn(x, x, x, attn_mask=future, key_padding_mask=mask, need_weights=False)[0]

    def _cross(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None) -> torch.Tensor:
        return self.cross_attn(x, memory, memory, key_padding_mask=memory_mask, need_weights=False)[0]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, memory: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        cross = memory is not None and self.cross_attn is not None
        if self.pre:
            x = x + self.drop(self._self(self.norm_self(x), mask))  # (B, T, C)
            if cross:
                x = x + self.drop(self._cross(self.norm_cross(x), memory, memory_mask))  # (B, T, C)
            return x + self.drop(self.ff(self.norm_ff(x)))  # (B, T, C)
        x = self.norm_self(x + self.drop(self._self(x, mask)))  # (B, T, C)
        if cross:
            x = self.norm_cross(x + self.drop(self._cross(x, memory, memory_mask)))  # (B, T, C)
        return self.norm_ff(x + self.drop(self.ff(x)))  # (B, T, C)


@layer("decoder_block", DecoderArgs, primary="heads", ranks=(2,), example_input=(6, 4),
       example_args={"heads": 2, "dropout": 0.0})
def decoder_block(shape: Shape, a: DecoderArgs) -> nn.Module:
    """Transformer decoder block (pre- or post-norm), causal; in a chain it has no encoder to cross-attend to."""
    return DecoderBlock(shape[1], a, cross=False)
