"""Deterministic train/validation/test splits, stratified by class for classification.

Besides the shuffled split, rows can be split in time (``data.split.order``: the
latest rows are validation and test, as in deployment) or kept together by group
(``data.split.group``: no group on both sides), and cross-validation folds are
made the same three ways: stratified K-fold, group K-fold, or time-ordered folds
that always test on rows later than every training row (scikit-learn's
TimeSeriesSplit). The validation rows of a fold come from its training rows.
"""

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


def planned_split(n: int, labels: np.ndarray | None, val: float, test: float, seed: int,
                  order: np.ndarray | None = None, groups: np.ndarray | None = None,
                  folds: int | None = None, fold: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of (train, val, test) under an order column, a group column and/or cross-validation folds.

    ``order``: sortable values (time); ``groups``: one group key per row; ``folds``/``fold``: test on
    fold ``fold`` of ``folds`` (``test`` is then unused). Without any of them this is :func:`split_indices`.
    """
    if folds is not None:
        rest, test_rows = fold_indices(n, labels, folds, seed, order, groups)[fold]
    elif order is not None:
        ranked = np.argsort(order, kind="stable")
        cut = n - int(round(test * n))
        rest, test_rows = ranked[:cut], ranked[cut:]
    elif groups is not None:
        rest, test_rows = _group_cut(np.arange(n), groups, test, seed)
    else:
        return split_indices(n, labels, val, test, seed)
    share = val / (1.0 - test) if folds is None and test < 1 else val
    if order is not None:
        ranked = rest[np.argsort(order[rest], kind="stable")]
        cut = len(rest) - int(round(share * len(rest)))
        train_rows, val_rows = ranked[:cut], ranked[cut:]
    elif groups is not None:
        train_rows, val_rows = _group_cut(rest, groups, share, seed + 1)
    else:
        from sklearn.model_selection import train_test_split

        train_rows, val_rows = _cut(rest, labels[rest] if labels is not None else None, share, seed + 1, train_test_split)
    return np.sort(train_rows), np.sort(val_rows), np.sort(test_rows)


def fold_indices(n: int, labels: np.ndarray | None, folds: int, seed: int, order: np.ndarray | None = None,
                 groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of each cross-validation fold: time-ordered with ``order``, group K-fold
    with ``groups``, else stratified K-fold for class labels (plain K-fold otherwise), shuffled by ``seed``."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

    from lamina.errors import ConfigError

    rows = np.arange(n)
    if order is not None:
        ranked = np.argsort(order, kind="stable")
        return [(ranked[a], ranked[b]) for a, b in TimeSeriesSplit(folds).split(ranked)]
    if groups is not None:
        distinct = len(np.unique(groups))
        if distinct < folds:
            raise ConfigError(f"--cv {folds} needs at least {folds} groups in data.split.group; found {distinct}")
        return list(GroupKFold(folds).split(rows, groups=groups))
    if labels is not None and np.unique(labels, return_counts=True)[1].min() >= folds:
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(rows, labels))
    return list(KFold(folds, shuffle=True, random_state=seed).split(rows))


def _group_cut(rows: np.ndarray, groups: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rows`` so about ``share`` of them are cut off, whole groups at a time."""
    if share <= 0:
        return rows, rows[:0]
    from sklearn.model_selection import GroupShuffleSplit

    keep, cut = next(GroupShuffleSplit(1, test_size=share, random_state=seed).split(rows, groups=groups[rows]))
    return rows[keep], rows[cut]
