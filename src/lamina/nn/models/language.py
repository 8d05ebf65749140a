"""GPT-style decoder-only language model built from lamina's own attention blocks.

Token ids (B, T) -> next-token logits (B, T, V): a token embedding plus a learned
position table, a stack of pre-norm causal Transformer blocks, a final layer norm,
and an output layer that shares its weight with the token embedding (tied
embeddings: fewer parameters, and the input and output vocabularies agree).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from lamina.errors import ShapeError
from lamina.nn.attention import BlockArgs, EncoderBlock, Positional, Projections


class GPTOptions(BaseModel):
    """Size of a decoder-only language model; ``context`` is the most tokens it attends over."""

    model_config = ConfigDict(extra="forbid")

    layers: int = Field(4, gt=0)
    heads: int = Field(4, gt=0)
    width: int = Field(128, gt=0)
    context: int = Field(64, gt=1)
    ff: int | None = Field(None, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> GPTOptions:
        if self.width % self.heads:
            raise ValueError(f"model.width must be divisible by model.heads; got width={self.width}, heads={self.heads}")
        return self


class GPT(nn.Module):
    """Decoder-only Transformer language model with tied input/output embeddings."""

    def __init__(self, vocab: int, o: GPTOptions) -> None:
        super().__init__()
        self.context = o.context
        self.embed = nn.Embedding(vocab, o.width)
        self.position = Positional("learned", o.context, o.width)
        block = BlockArgs(heads=o.heads, ff=o.ff, dropout=o.dropout, norm="pre", causal=True)
        self.blocks = nn.ModuleList(EncoderBlock(o.width, block) for _ in range(o.layers))
        self.drop = nn.Dropout(o.dropout)
        self.norm = nn.LayerNorm(o.width)
        self.head = nn.Linear(o.width, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied embeddings
        self.apply(_small_normal)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] > self.context:
            raise ShapeError(f"the model attends over at most {self.context} tokens; got a sequence of {ids.shape[1]}")
        x = self.drop(self.position(self.embed(ids)))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        return self.head(self.norm(x))  # (B, T, V)


def _small_normal(module: nn.Module) -> None:
    """GPT-2's initialization: N(0, 0.02) weights and zero biases for linear and embedding layers."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, Projections):
        nn.init.normal_(module.in_proj_weight, 0.0, 0.02)
        nn.init.zeros_(module.in_proj_bias)
