"""Scores of model outputs against encoded targets, in the target's own units (used by validation and evaluation)."""

from __future__ import annotations

from typing import Any

import torch

from lamina.data.preprocess import TargetPrep
from lamina.evaluate.metrics import compute_metrics, outputs_to_preds


def score(outputs: torch.Tensor, target: torch.Tensor, target_prep: TargetPrep, names: list[str]) -> dict[str, Any]:
    """Metrics of ``outputs`` against encoded ``target``; regression is scored in the target's units."""
    preds = outputs_to_preds(outputs, target_prep.task)
    if target_prep.task == "regression":
        preds = torch.as_tensor(target_prep.decode_values(preds.double().numpy()))
        target = torch.as_tensor(target_prep.decode_values(target.double().numpy()))
        if preds.shape[1] == 1:
            preds, target = preds[:, 0], target[:, 0]
    return compute_metrics(names, target_prep.task, preds, target, target_prep.n_outputs)
