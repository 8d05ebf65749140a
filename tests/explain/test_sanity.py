"""Spearman rank correlation of attribution maps: ties, order reversal, independence and shape checks."""

from __future__ import annotations

import pytest
import torch

from lamina.explain.sanity import average_ranks, rank_correlation


def test_tied_values_share_their_mean_rank() -> None:
    assert average_ranks(torch.tensor([3.0, 1.0, 3.0, 0.0])).tolist() == [2.5, 1.0, 2.5, 0.0]


def test_monotone_maps_correlate_fully_and_reversed_maps_negatively() -> None:
    a = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(rank_correlation(a, a.exp() * 3), torch.ones(4), atol=1e-9)  # same order, other scale
    assert torch.allclose(rank_correlation(a, -a), -torch.ones(4), atol=1e-9)


def test_independent_maps_correlate_near_zero_and_constant_maps_give_zero() -> None:
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(50, 64, generator=g), torch.rand(50, 64, generator=g)
    assert abs(float(rank_correlation(a, b).mean())) < 0.05
    assert rank_correlation(torch.zeros(2, 5), torch.rand(2, 5)).tolist() == [0.0, 0.0]


def test_maps_of_different_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"same shape; got \(2, 4\) and \(2, 5\)"):
        rank_correlation(torch.zeros(2, 4), torch.zeros(2, 5))
