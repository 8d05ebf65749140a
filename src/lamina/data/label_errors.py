"""Likely label errors by confident learning (Northcutt, Jiang and Chuang, "Confident Learning", JAIR 2021).

Every row gets predicted class probabilities from a model that did not see
it: scikit-learn's logistic regression over K=5 stratified folds. Out-of-fold
matters because a model scored on its own training rows has learned their
wrong labels; logistic regression because it is fast on a few thousand rows
and gives usable probabilities without tuning (the paper's method works with
any model's out-of-fold probabilities).

The paper's per-class threshold t_j is the mean probability of class j over
the rows labelled j (the class's self-confidence). A row labelled i counts
toward the confident joint C[i][j] for the class j of highest probability among
those whose probability reaches their own threshold; the rows off the
diagonal (j != i) are the likely label errors, ranked by how far the given
label's probability falls below the chosen class's (self-confidence ranking).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FOLDS = 5
MAX_CATEGORIES = 30  # a text column with more distinct values is left out of the quick model's features


def out_of_fold_probabilities(x: np.ndarray, labels: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """(rows, classes) probabilities, each row's from a logistic regression fitted on the other folds.

    Classes are in ``np.unique(labels)`` order; features are standardized inside each fold.
    BLAS runs on one thread: these small fits spend longer waking threads than computing
    (digits: 0.15 s on one thread, about a minute with threads on a loaded 2-core machine).
    """
    from threadpoolctl import threadpool_limits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with threadpool_limits(limits=1):
        return cross_val_predict(model, x, labels, cv=split, method="predict_proba")


def confident_learning(probs: np.ndarray, given: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's per-class thresholds, each row's confident class (-1: none reaches its threshold),
    and the mask of rows whose confident class differs from their given label (``given``: class indices)."""
    classes = probs.shape[1]
    thresholds = np.array([probs[given == j, j].mean() if np.any(given == j) else 1.0 for j in range(classes)])
    above = probs >= thresholds  # (rows, classes)
    confident = np.where(above.any(axis=1), np.where(above, probs, -np.inf).argmax(axis=1), -1)
    flagged = (confident >= 0) & (confident != given)
    return thresholds, confident, flagged


def label_error_report(columns: dict[str, Any], target: str, leave_out: list[str], seed: int = 0) -> dict[str, Any]:
    """Likely label errors of a table's ``target`` column (pyarrow columns), for the quality report.

    Features are the other columns but ``leave_out`` (id-like, constant, empty): numbers
    as they are (missing: the column median), short text columns one-hot. Classes with
    fewer rows than folds are skipped (the report lists them as very small classes).
    """
    from lamina.data.quality import labels_of

    labels = labels_of(columns[target])
    names, counts = np.unique(labels[labels != ""], return_counts=True)
    kept_classes = names[counts >= FOLDS]
    rows = np.flatnonzero(np.isin(labels, kept_classes))
    if len(kept_classes) < 2:
        return {"method": "confident learning", "skipped": "fewer than two classes with enough rows", "flagged": 0, "rows": []}
    x = feature_matrix({k: v for k, v in columns.items() if k != target and k not in leave_out}, rows)
    given = np.searchsorted(kept_classes, labels[rows])
    probs = out_of_fold_probabilities(x, given, seed=seed)
    thresholds, confident, flagged = confident_learning(probs, given)
    order = np.flatnonzero(flagged)
    margin = probs[order, confident[order]] - probs[order, given[order]]
    order = order[np.argsort(-margin, kind="stable")]
    return {
        "method": f"confident learning, out-of-fold logistic regression ({FOLDS} folds)",
        "flagged": int(flagged.sum()),
        "thresholds": {str(c): round(float(t), 4) for c, t in zip(kept_classes, thresholds)},
        "rows": [{"row": int(rows[i]), "given": str(kept_classes[given[i]]), "likely": str(kept_classes[confident[i]]),
                  "p_given": round(float(probs[i, given[i]]), 4), "p_likely": round(float(probs[i, confident[i]]), 4)}
                 for i in order],
    }


def feature_matrix(columns: dict[str, Any], rows: np.ndarray) -> np.ndarray:
    """The ``rows`` of pyarrow columns as a float matrix for the quick model: numbers as they are
    (missing: the median), text with at most MAX_CATEGORIES values one-hot, longer text left out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for column in columns.values():
        column = column.take(pa.array(rows))
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
            numbers = column.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
            fill = np.nanmedian(numbers) if np.isfinite(numbers).any() else 0.0
            parts.append(np.where(np.isfinite(numbers), numbers, fill)[:, None])
            continue
        encoded = pc.dictionary_encode(column.cast(pa.string()), null_encoding="encode")
        if len(encoded.dictionary) <= MAX_CATEGORIES:
            parts.append(np.eye(len(encoded.dictionary) + 1)[encoded.indices.fill_null(len(encoded.dictionary))
                                                               .to_numpy(zero_copy_only=False)])
    if not parts:
        return np.zeros((len(rows), 1))
    return np.concatenate(parts, axis=1)
