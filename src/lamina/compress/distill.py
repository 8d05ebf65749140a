"""Knowledge distillation: a student learns from a teacher's softened outputs as well as the labels.

:class:`Distill` enters the ordinary training loop through ``on_loss``: it runs
the frozen teacher on the same batch and mixes the usual (hard-label) loss
with the KL divergence between temperature-softened teacher and student
distributions (Hinton et al., 2015), scaled by T^2 so its gradients keep
their size as T changes.

With ``mixup`` > 0 the teacher is also matched on mixed inputs (pairs of the
batch blended with a Beta(mixup, mixup) weight): soft targets off the training
points are where a teacher knows more than the labels, and matching the
teacher's function there is what lets a small student gain on little or noisy
data (Beyer et al., 2022, "a good teacher is patient and consistent").
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

    def __init__(self, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.7, mixup: float = 0.0) -> None:
        if temperature <= 0:
            raise ConfigError(f"distillation temperature must be positive; got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"distillation alpha must be between 0 and 1; got {alpha}")
        if mixup < 0:
            raise ConfigError(f"distillation mixup must be >= 0 (0 turns it off); got {mixup}")
        self.teacher, self.temperature, self.alpha, self.mixup = teacher.eval(), temperature, alpha, mixup

    def on_train_start(self, state: State) -> None:
        if state.data.task == "regression":
            raise ConfigError("distillation needs a classification task; this run is a regression")
        self.teacher.to(state.device)
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def on_loss(self, state: State) -> None:
        x, student = state.xb, state.outputs
        if self.mixup > 0:
            weight = torch.distributions.Beta(self.mixup, self.mixup).sample((len(x),)).to(x.device)
            weight = weight.reshape(-1, *([1] * (x.dim() - 1)))
            x = weight * x + (1 - weight) * x[torch.randperm(len(x), device=x.device)]  # (B, *input_shape)
            student = state.model(x).float()
        with torch.no_grad():
            teacher = self.teacher(x).float()
        soft = distillation_loss(student, teacher, self.temperature, state.data.task)
        state.objective = state.objective + self.alpha * (soft - state.loss)
