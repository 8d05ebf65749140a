"""Metrics by group (``eval.groups``): each group's scores and the gaps between groups (fairness).

For every value of a group column, on the scored split:

- classification: ``n``, ``accuracy``, ``f1`` (binary: of the positive class; multiclass: the macro
  average over the classes that occur in the group, true or predicted),
  ``ece`` (expected calibration error of the predicted class's probability, 10 equal-width bins);
  binary tasks add ``selection_rate`` (share predicted positive), ``tpr`` and ``fpr`` (true- and
  false-positive rates; None in a group without positives, or negatives). The positive class is the
  second of the run's sorted class names.
- regression: ``n``, ``mae``, ``rmse`` (in the target's units; the first target when there are several).

The gaps, as fairlearn defines them: ``demographic_parity_difference`` is the largest minus the smallest
selection rate; ``equalized_odds_difference`` is the larger of the TPR gap and the FPR gap (each largest
minus smallest over the groups that have the rate); ``worst_group_accuracy`` is the lowest accuracy and
``accuracy_difference`` the largest minus the lowest. Regression reports ``worst_group_mae`` and
``mae_difference``. Parity and equalized odds are binary-task measures, absent for multiclass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CALIBRATION_BINS = 10


def group_report(values: np.ndarray, truth: np.ndarray, task: str, groups: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per-group metrics and gaps for each group column.

    ``values`` are the run's numeric predictions (class probabilities (N, classes), or values (N, targets) in
    target units), ``truth`` the true class indices (N,) or values (N, targets), ``groups`` each column's value
    per sample. Returns ``{column: {"groups": {value: metrics}, "gaps": {...}}}``.
    """
    return {name: _one_column(values, truth, task, np.asarray(column)) for name, column in groups.items()}


def _one_column(values: np.ndarray, truth: np.ndarray, task: str, column: np.ndarray) -> dict[str, Any]:
    names = sorted(set(column.tolist()))
    per_group = {}
    for name in names:
        rows = column == name
        per_group[name] = (_regression(values[rows], truth[rows]) if task == "regression"
                           else _classification(values[rows], truth[rows], task))
    return {"groups": per_group, "gaps": _gaps(per_group, task)}


def _classification(probabilities: np.ndarray, truth: np.ndarray, task: str) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    predicted = np.argmax(probabilities, axis=1)  # the first most probable class, as the predictions show
    truth = np.asarray(truth, dtype=np.int64).reshape(-1)
    metrics: dict[str, Any] = {"n": int(len(truth)), "accuracy": float(np.mean(predicted == truth))}
    if task == "binary":
        metrics["f1"] = float(f1_score(truth, predicted, labels=[0, 1], pos_label=1, average="binary", zero_division=0))
        metrics["selection_rate"] = float(np.mean(predicted == 1))
        metrics["tpr"] = float(np.mean(predicted[truth == 1] == 1)) if np.any(truth == 1) else None
        metrics["fpr"] = float(np.mean(predicted[truth == 0] == 1)) if np.any(truth == 0) else None
    else:
        metrics["f1"] = float(f1_score(truth, predicted, average="macro", zero_division=0))  # over the group's classes
    metrics["ece"] = expected_calibration_error(probabilities, truth)
    return metrics


def expected_calibration_error(probabilities: np.ndarray, truth: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by the share of samples in each."""
    confidence = probabilities.max(axis=1)
    correct = np.argmax(probabilities, axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def _regression(values: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    error = np.asarray(values, dtype=np.float64).reshape(len(values), -1)[:, 0] - \
        np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)[:, 0]
    return {"n": int(len(error)), "mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error ** 2)))}


def _spread(per_group: dict[str, dict[str, Any]], key: str) -> float | None:
    """Largest minus smallest ``key`` over the groups that have it; None when fewer than one has it."""
    found = [m[key] for m in per_group.values() if m.get(key) is not None]
    return float(max(found) - min(found)) if found else None


def _gaps(per_group: dict[str, dict[str, Any]], task: str) -> dict[str, Any]:
    if task == "regression":
        return {"worst_group_mae": max(m["mae"] for m in per_group.values()), "mae_difference": _spread(per_group, "mae")}
    gaps: dict[str, Any] = {"worst_group_accuracy": min(m["accuracy"] for m in per_group.values()),
                            "accuracy_difference": _spread(per_group, "accuracy")}
    if task == "binary":
        tpr, fpr = _spread(per_group, "tpr"), _spread(per_group, "fpr")
        gaps["demographic_parity_difference"] = _spread(per_group, "selection_rate")
        gaps["equalized_odds_difference"] = None if tpr is None and fpr is None else max(tpr or 0.0, fpr or 0.0)
    return gaps


def format_rows(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Each group column as (title, header, rows) of text, for the CLI table and report.html."""
    tables = []
    for column, found in report.items():
        keys = [k for k in next(iter(found["groups"].values())) if k != "n"]
        rows = [[str(name), str(m["n"]), *(_cell(m[k]) for k in keys)] for name, m in found["groups"].items()]
        gaps = ", ".join(f"{k} {_cell(v)}" for k, v in found["gaps"].items())
        tables.append((f"metrics by {column} ({gaps})", [column, "n", *keys], rows))
    return tables


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"
