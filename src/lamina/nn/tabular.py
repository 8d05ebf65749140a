"""Embeddings for categorical table columns: each category index becomes a learned vector.

With ``data.categorical_encoding: embedding`` a categorical column reaches the model as one input
holding 1 + its category's index (0 for a category unseen in training or missing). The
``category_embedding`` layer swaps each such input for a learned vector and keeps the numeric
inputs as they are; build_model fills in which inputs are categorical and how many categories each has.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from lamina.errors import ShapeError
from lamina.nn.layers import Args, Shape, layer


class CategoryEmbeddingArgs(Args):
    dim: int | None = Field(None, gt=0)  # None: a size per column from its category count
    categories: list[tuple[int, int]] | None = None  # [(input position, category count)]; set from the data


def embedding_size(count: int) -> int:
    """A vector size for ``count`` categories: grows slowly with the count (fastai's rule of thumb), at most 50."""
    return max(2, min(50, round(1.6 * count**0.56)))


class CategoryEmbedding(nn.Module):
    """(B, F) with category indices at some positions -> (B, numeric + sum of embedding sizes)."""

    def __init__(self, features: int, categories: list[tuple[int, int]], dim: int | None) -> None:
        super().__init__()
        positions = [p for p, _ in categories]
        self.register_buffer("categorical", torch.tensor(positions, dtype=torch.long), persistent=False)
        self.register_buffer("numeric", torch.tensor([i for i in range(features) if i not in positions],
                                                     dtype=torch.long), persistent=False)
        self.tables = nn.ModuleList(nn.Embedding(count, dim or embedding_size(count)) for _, count in categories)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = x[:, self.categorical].round().long()  # (B, K)
        vectors = [table(codes[:, k].clamp(0, table.num_embeddings - 1)) for k, table in enumerate(self.tables)]
        return torch.cat([x[:, self.numeric], *vectors], dim=1)  # (B, numeric + sum of sizes)


@layer("category_embedding", CategoryEmbeddingArgs, primary="dim", ranks=(1,), example_input=(3,),
       example_args={"categories": [(0, 4)]})
def category_embedding(shape: Shape, a: CategoryEmbeddingArgs) -> nn.Module:
    """Learned vectors for categorical table columns (data.categorical_encoding: embedding), numeric inputs kept."""
    if not a.categories:
        raise ShapeError("category_embedding needs categorical columns encoded as indices: "
                         "set data.categorical_encoding: embedding (with a CSV that has categorical columns)")
    for position, count in a.categories:
        if not 0 <= position < shape[0] or count < 1:
            raise ShapeError(f"category_embedding: category input {position} (with {count} categories) "
                             f"does not fit input of shape {shape}")
    return CategoryEmbedding(shape[0], list(a.categories), a.dim)
