"""Deterministic train/validation/test splits, stratified by class for classification."""

from __future__ import annotations

import numpy as np


def split_indices(n: int, labels: np.ndarray | None, val: float, test: float, seed: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of (train, val, test); the same arguments always give the same split.

    Stratifies on ``labels`` when given and every class has enough members,
    otherwise shuffles plainly. Each returned index array is sorted.
    """
    from sklearn.model_selection import train_test_split

    rows = np.arange(n)
    rest, test_rows = _cut(rows, labels, test, seed, train_test_split)
    rest_labels = labels[rest] if labels is not None else None
    val_share = val / (1.0 - test) if test < 1 else 0.0
    train_rows, val_rows = _cut(rest, rest_labels, val_share, seed + 1, train_test_split)
    return np.sort(train_rows), np.sort(val_rows), np.sort(test_rows)


def _cut(rows: np.ndarray, labels: np.ndarray | None, share: float, seed: int, splitter) -> tuple[np.ndarray, np.ndarray]:
    if share <= 0 or len(rows) < 2:
        return rows, rows[:0]
    size = max(1, int(round(share * len(rows))))
    stratify = labels
    if labels is not None:
        _, counts = np.unique(labels, return_counts=True)
        if counts.min() < 2 or size < len(counts) or len(rows) - size < len(counts):
            stratify = None
    keep, cut = splitter(rows, test_size=size, random_state=seed, shuffle=True, stratify=stratify)
    return keep, cut
