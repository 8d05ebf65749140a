"""A reward model: text -> one scalar score, trained on preference pairs (Bradley-Terry; lamina.lm.preference).

    ids (B, T) -> token + position embeddings -> one bidirectional encoder block (padding masked)
      -> mean over the real tokens -> linear head -> reward (B,)
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.nn.attention import BlockArgs, EncoderBlock


class RewardModel(nn.Module):
    """Text -> scalar reward: token embeddings, one bidirectional encoder block, mean pooling, a linear head."""

    def __init__(self, vocab: int, width: int = 48, heads: int = 4, max_length: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Embedding(max_length, width)
        self.block = EncoderBlock(width, BlockArgs(heads=heads, dropout=0.0))
        self.head = nn.Linear(width, 1)

    def forward(self, ids: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """The reward of each row of ``ids`` (B, T); ``padding`` (B, T) is True where a position holds no token."""
        x = self.embed(ids) + self.position(torch.arange(ids.shape[1], device=ids.device))  # (B, T, C)
        x = self.block(x, padding)  # (B, T, C)
        keep = (~padding).unsqueeze(-1).float()  # (B, T, 1)
        return self.head((x * keep).sum(1) / keep.sum(1)).squeeze(-1)  # (B,)
