"""Did the model actually learn the task it was just trained on?

Forgetting is only meaningful when each task was learned in the first place.
In a class-incremental sequence two things commonly stop that, and both look
alike in the accuracy matrix (a zero on its diagonal):

* the new classes start far behind: every earlier task pushed their logits
  down through the shared head, so a short per-task budget ends before they
  catch up (the validation loss is still falling at the last epoch);
* the network lost its plasticity: with a large learning rate the earlier
  tasks drove most ReLU units of a layer negative for every input, and a
  layer of dead units cannot learn anything new.

:func:`logit_gap` is measured before a task, :func:`task_warnings` after it;
the warnings name the evidence and the setting to change.
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.continual.tasks import Task

DEAD_SHARE = 0.9  # a layer with at least this share of units silent on the task counts as dead
STILL_FALLING = 0.05  # the last epoch's validation loss fell by at least this fraction


def chance(task: Task) -> float:
    """Accuracy of guessing uniformly among the task's classes."""
    return 1.0 / max(1, len(task.classes))


def learned(accuracy: float, task: Task) -> bool:
    """True when the accuracy right after training is at least halfway from chance to perfect."""
    return accuracy >= (1.0 + chance(task)) / 2


@torch.no_grad()
def logit_gap(model: nn.Module, task: Task, n_outputs: int, device: torch.device) -> float | None:
    """Mean of (best other-class logit - best own-class logit) on the task's training inputs.

    Positive: the task's classes start behind the rest of the shared head. None when the task
    covers every output (a permuted sequence) or the model has a single output.
    """
    if n_outputs < 2 or len(task.classes) >= n_outputs or len(task.train) == 0:
        return None
    was_training = model.training
    model.eval()
    outputs = model(task.train.x.to(device)).float()  # (N, n_outputs)
    model.train(was_training)
    own = torch.zeros(n_outputs, dtype=torch.bool, device=outputs.device)
    own[torch.as_tensor(task.classes, device=outputs.device)] = True
    gap = outputs[:, ~own].max(dim=1).values - outputs[:, own].max(dim=1).values
    return float(gap.mean())


@torch.no_grad()
def dead_layers(model: nn.Module, x: torch.Tensor, device: torch.device) -> list[tuple[str, int, int]]:
    """ReLU-family layers whose units (nearly) never fire on ``x``: (name, silent units, units)."""
    family = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU)
    fired: dict[str, torch.Tensor] = {}

    def watch(name: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            units = output.reshape(output.shape[0], output.shape[1], -1)  # (N, units, positions)
            active = (units > 0).any(dim=2).any(dim=0)
            fired[name] = active if name not in fired else fired[name] | active

        return record

    handles = [m.register_forward_hook(watch(n)) for n, m in model.named_modules() if isinstance(m, family)]
    was_training = model.training
    model.eval()
    try:
        model(x.to(device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    report = []
    for name, active in fired.items():
        silent = int((~active).sum())
        if silent >= DEAD_SHARE * len(active):
            report.append((name, silent, len(active)))
    return report


def task_warnings(model: nn.Module, task: Task, accuracy: float, history: list[dict], gap: float | None,
                  lr: float, device: torch.device) -> list[str]:
    """Why a task was not learned, with evidence and the setting to change; [] when it was learned."""
    if learned(accuracy, task):
        return []
    lines = [f"{task.name} reached only {accuracy:.3f} test accuracy right after training on it "
             f"(chance {chance(task):.3f})"]
    for name, silent, units in dead_layers(model, task.train.x, device):
        lines.append(f"layer '{name}': {silent} of {units} units never fire on this task's inputs (dead ReLUs); "
                     f"the network has lost plasticity: lower train.optimizer.lr (now {lr:g}) or set "
                     f"model.batchnorm: true")
    losses = [h["val_loss"] for h in history if "val_loss" in h]
    if len(losses) >= 2 and losses[-1] < losses[-2] * (1 - STILL_FALLING):
        start = f"; its classes started {gap:.1f} logits behind the others in the shared head" if gap else ""
        lines.append(f"validation loss was still falling at the last epoch ({losses[-2]:.3f} -> {losses[-1]:.3f})"
                     f"{start}: raise train.epochs (now {len(losses)} per task)")
    return lines
