"""The sanity check for attributions (Adebayo et al. 2018): do they depend on what the model learned?

An explanation that looks the same for a trained model and for the same
architecture with random weights describes the input (or the architecture),
not the model. The check compares the two maps per sample by Spearman rank
correlation: near 1 means the map ignored the weights, near 0 means it
changed with them.
"""

from __future__ import annotations

import torch


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 of a 1-D tensor, tied values sharing the mean of their ranks (as Spearman's rho needs)."""
    _, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() + 1) / 2  # the mean of ranks ends-counts .. ends-1
    return mean_rank[inverse]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation between ``a[i]`` and ``b[i]`` for each sample i (any shape after the first axis).

    A sample whose map is constant in either input has no ranking to compare and gets 0.
    """
    if a.shape != b.shape:
        raise ValueError(f"attributions to compare must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    out = []
    for left, right in zip(a.detach().flatten(1).double(), b.detach().flatten(1).double()):
        ra, rb = average_ranks(left), average_ranks(right)
        ra, rb = ra - ra.mean(), rb - rb.mean()
        scale = (ra.norm() * rb.norm()).item()
        out.append(float((ra * rb).sum()) / scale if scale > 0 else 0.0)
    return torch.tensor(out)
