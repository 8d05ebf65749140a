"""Sequence metrics for seq2seq: per-token accuracy and whole-sequence exact match (torchmetrics).

Both take predicted and true token ids (N, T) and ignore padding (id 0) in the
truth: a sequence matches when every token up to and including its ``<eos>`` is right.
"""

from __future__ import annotations

import torch

from lamina.evaluate.metrics import metric


@metric("token_accuracy", ("seq2seq",), True)
def token_accuracy(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Fraction of target tokens (padding excluded) predicted right."""
    from torchmetrics.functional.classification import multiclass_accuracy

    return float(multiclass_accuracy(p.reshape(-1), t.reshape(-1), k, average="micro", ignore_index=0))


@metric("exact_match", ("seq2seq",), True)
def exact_match(p: torch.Tensor, t: torch.Tensor, k: int, task: str) -> float:
    """Fraction of sequences predicted right in full (every token through <eos>)."""
    from torchmetrics.functional.classification import multiclass_exact_match

    return float(multiclass_exact_match(p, t, k, multidim_average="global", ignore_index=0))
