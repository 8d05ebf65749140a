"""Evaluation: metrics by task (torchmetrics) and evaluation of a finished run."""
