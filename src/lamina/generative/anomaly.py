"""Anomaly detection by reconstruction error, with PCA's error as the baseline.

A model trained on normal data only reconstructs normal inputs well and others
badly, so the reconstruction error is an anomaly score. The threshold is set on
validation data (normal rows only): the score that ``false_alarm_rate`` of them
exceed. AUROC and AUPRC (average precision; anomalies are the positive class)
do not depend on a threshold; precision and recall at the threshold do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lamina.errors import DataError


def pca_errors(train: torch.Tensor, x: torch.Tensor, components: int) -> torch.Tensor:
    """Per-sample mean squared error of PCA (fitted on ``train``) reconstructing ``x`` from ``components``."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=min(components, *train.flatten(1).shape)).fit(train.flatten(1).numpy())
    flat = x.flatten(1).numpy()
    rebuilt = pca.inverse_transform(pca.transform(flat))
    return torch.from_numpy(((rebuilt - flat) ** 2).mean(axis=1))


def threshold_for(val_scores: torch.Tensor, false_alarm_rate: float) -> float:
    """The score that ``false_alarm_rate`` of the validation (normal) scores exceed."""
    if len(val_scores) == 0:
        raise DataError("the anomaly threshold needs validation rows of the normal classes (generative.normal_classes); "
                        "the validation split has none: set data.split.val above 0")
    return float(np.quantile(val_scores.numpy(), 1.0 - false_alarm_rate))


def anomaly_report(scores: torch.Tensor, is_anomaly: torch.Tensor, threshold: float) -> dict[str, Any]:
    """AUROC, AUPRC, and precision / recall / false-alarm rate at ``threshold`` (anomalies are positive)."""
    from torchmetrics.functional.classification import binary_auroc, binary_average_precision

    target = is_anomaly.long()
    flagged = scores > threshold
    positives, negatives = int(target.sum()), int((1 - target).sum())
    if positives == 0 or negatives == 0:
        raise DataError(f"scoring anomalies needs both normal and anomalous test rows (generative.normal_classes "
                        f"decides which are normal); got {negatives} normal and {positives} anomalous")
    true_flags = int((flagged & is_anomaly.bool()).sum())
    return {
        "auroc": float(binary_auroc(scores.float(), target)),
        "auprc": float(binary_average_precision(scores.float(), target)),
        "threshold": threshold,
        "precision": true_flags / max(1, int(flagged.sum())),
        "recall": true_flags / positives,
        "false_alarm_rate": int((flagged & ~is_anomaly.bool()).sum()) / negatives,
        "anomalies": positives,
        "normals": negatives,
        "mean_score_anomalies": float(scores[is_anomaly.bool()].mean()),
        "mean_score_normals": float(scores[~is_anomaly.bool()].mean()),
    }
