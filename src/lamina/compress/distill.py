"""Knowledge distillation: a student learns from a teacher's softened outputs as well as the labels.

:class:`Distill` enters the ordinary training loop through ``on_loss``: it runs
the frozen teacher on the same batch and mixes the usual (hard-label) loss
with the KL divergence between temperature-softened teacher and student
distributions (Hinton et al., 2015), scaled by T^2 so its gradients keep
their size as T changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lamina.errors import ConfigError
from lamina.train.callbacks import Callback
from lamina.train.loop import State


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float, task: str) -> torch.Tensor:
    """KL(teacher || student) on temperature-softened outputs, times T^2 (sigmoid outputs for binary tasks)."""
    t = temperature
    if task == "binary":
        s, p = student.reshape(-1) / t, torch.sigmoid(teacher.reshape(-1) / t)
        return F.binary_cross_entropy_with_logits(s, p) * t * t
    return F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1),
                    reduction="batchmean", log_target=True) * t * t


class Distill(Callback):
    """Replace ``loss`` by ``(1 - alpha) * loss + alpha * distillation_loss`` in the objective, each batch."""

    def __init__(self, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.7) -> None:
        if temperature <= 0:
            raise ConfigError(f"distillation temperature must be positive; got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"distillation alpha must be between 0 and 1; got {alpha}")
        self.teacher, self.temperature, self.alpha = teacher.eval(), temperature, alpha

    def on_train_start(self, state: State) -> None:
        if state.data.task == "regression":
            raise ConfigError("distillation needs a classification task; this run is a regression")
        self.teacher.to(state.device)
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def on_loss(self, state: State) -> None:
        with torch.no_grad():
            teacher = self.teacher(state.xb).float()
        soft = distillation_loss(state.outputs, teacher, self.temperature, state.data.task)
        state.objective = state.objective + self.alpha * (soft - state.loss)
