"""Gradient accumulation: how much each micro-batch's loss counts in the update of its group."""

from __future__ import annotations


def accumulation_shares(n: int, batch_size: int, k: int) -> list[float] | None:
    """Each batch's weight when ``k`` batches are accumulated into one step (None when ``k`` is 1).

    A batch's mean loss counts by its share of its group's samples, so a group's
    summed gradient is that of the mean loss over the whole group: the update of
    one batch ``k`` times larger, including a smaller last batch or last group.
    """
    if k == 1:
        return None
    sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
    shares: list[float] = []
    for first in range(0, len(sizes), k):
        group = sizes[first : first + k]
        shares += [size / sum(group) for size in group]
    return shares


def combine(first: list[float] | None, second: list[float] | None) -> list[float] | None:
    """Per-batch loss weights multiplied together (None stands for all ones)."""
    if first is None or second is None:
        return first or second
    return [a * b for a, b in zip(first, second)]
