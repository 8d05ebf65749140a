"""Continual-learning strategies as loop callbacks, with two task-level events.

A strategy is a :class:`~lamina.train.callbacks.Callback` (it joins the loop
for every task) plus ``before_task`` and ``after_task``, called by the
sequence runner around each task's training:

* ``naive``: plain fine-tuning, task after task (the forgetting baseline).
* ``ewc`` (Kirkpatrick et al.): after each task, the diagonal Fisher information
  at the task's solution; ``on_loss`` adds ``lambda/2 * sum F (theta - theta*)^2``
  for every earlier task.
* ``replay``: a reservoir buffer of past samples (each sample offered once, in a
  task's first epoch); ``on_batch_start`` appends a batch drawn from it.
* ``lwf`` (Li and Hoiem, learning without forgetting): a frozen copy of the
  model from before the task; ``on_loss`` adds ``alpha * T^2 * KL`` between its
  softened outputs and the model's on the current batch (no stored data).

Everything a strategy keeps between batches and tasks (the Fisher information
and anchor weights, the replay buffer, the teacher's weights, the generators)
goes into the loop's checkpoints through ``tensors``, ``state_dict`` and
``generators``, so a continual run resumes exactly (see lamina.continual.sequence).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from pydantic import BaseModel, ConfigDict, Field

from lamina.config import ContinualSpec
from lamina.continual.tasks import Task
from lamina.train.callbacks import Callback, validate_state

if TYPE_CHECKING:
    from lamina.train.loop import State


class Strategy(Callback):
    """Base strategy: plain fine-tuning. Subclasses override loop events and the task events."""

    def before_task(self, model: nn.Module, task: Task, index: int) -> None:
        """Called before training on task ``index`` (0-based)."""

    def after_task(self, model: nn.Module, task: Task, index: int, device: torch.device) -> None:
        """Called after training on task ``index``."""


class Naive(Strategy):
    """Fine-tune on each task in turn with nothing to protect earlier ones."""


class EWC(Strategy):
    """Elastic weight consolidation with a diagonal Fisher per finished task."""

    def __init__(self, strength: float, fisher_samples: int, seed: int = 0) -> None:
        self.strength, self.fisher_samples = strength, fisher_samples
        self.generator = torch.Generator().manual_seed(seed)
        self.anchors: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []  # (fisher, params)
        self.shapes: dict[str, torch.Size] = {}  # the trained parameters' shapes, which saved anchors must have

    def before_task(self, model: nn.Module, task: Task, index: int) -> None:
        self.shapes = {n: p.shape for n, p in model.named_parameters() if p.requires_grad}

    def generators(self) -> dict[str, torch.Generator]:
        return {"fisher": self.generator}

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for t, (fisher, params) in enumerate(self.anchors):
            out |= {f"fisher.{t}.{n}": f for n, f in fisher.items()} | {f"anchor.{t}.{n}": p for n, p in params.items()}
        return out

    def load_tensors(self, saved: dict[str, torch.Tensor]) -> None:
        """The anchors of the finished tasks: for each, a finite, non-negative Fisher and the weights, as the model's."""
        tasks = len(saved) // (2 * len(self.shapes)) if self.shapes else 0
        expected = {f"{kind}.{t}.{n}" for t in range(tasks) for kind in ("fisher", "anchor") for n in self.shapes}
        if set(saved) != expected:
            odd = sorted(set(saved) ^ expected)[:2]
            raise ValueError(f"EWC's saved anchors do not fit this model's parameters (e.g. {', '.join(odd)})")
        for name, tensor in saved.items():
            kind, _, param = name.split(".", 2)
            if tensor.shape != self.shapes[param] or not torch.isfinite(tensor).all() \
                    or (kind == "fisher" and bool((tensor < 0).any())):
                raise ValueError(f"EWC's saved {name} is not a finite{' non-negative' if kind == 'fisher' else ''} "
                                 f"tensor of shape {tuple(self.shapes[param])}")
        self.anchors = [({n: saved[f"fisher.{t}.{n}"] for n in self.shapes},
                         {n: saved[f"anchor.{t}.{n}"] for n in self.shapes}) for t in range(tasks)]

    def after_task(self, model: nn.Module, task: Task, index: int, device: torch.device) -> None:
        fisher = diagonal_fisher(model, task.train.x, self.fisher_samples, device, self.generator)
        params = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        self.anchors.append((fisher, params))

    def on_loss(self, state: State) -> None:
        if not self.anchors or not self.strength:
            return
        penalty = 0.0
        for name, p in state.model.named_parameters():
            for fisher, params in self.anchors:
                if name in fisher:
                    penalty = penalty + (fisher[name] * (p - params[name]).pow(2)).sum()
        state.objective = state.objective + 0.5 * self.strength * penalty


def diagonal_fisher(model: nn.Module, x: torch.Tensor, samples: int, device: torch.device,
                    generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Diagonal Fisher information: the mean squared gradient of log p(y|x), y drawn from the model.

    Uses up to ``samples`` inputs of ``x``, one backward pass each (per-sample squares, not a batch's).
    """
    was_training = model.training
    model.eval()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    pick = torch.randperm(len(x), generator=generator)[:samples]
    for i in pick.tolist():
        log_p = log_probs(model(x[i : i + 1].to(device)))  # (1, classes)
        y = torch.multinomial(log_p.detach().exp().cpu()[0], 1, generator=generator).item()
        grads = torch.autograd.grad(log_p[0, y], list(params.values()))
        for (n, _), g in zip(params.items(), grads):
            fisher[n] += g.detach().pow(2)
    model.train(was_training)
    return {n: f / max(1, len(pick)) for n, f in fisher.items()}


class Replay(Strategy):
    """Experience replay from a reservoir buffer: every sample seen has the same chance to be kept."""

    def __init__(self, capacity: int, replay_batch: int | None, seed: int = 0) -> None:
        self.capacity, self.replay_batch = capacity, replay_batch
        self.generator = torch.Generator().manual_seed(seed)
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.seen = 0
        self.sample: tuple[torch.Tensor, torch.Tensor] | None = None  # one sample of the task: what saved ones must be like

    def __len__(self) -> int:
        return 0 if self.x is None else len(self.x)

    def before_task(self, model: nn.Module, task: Task, index: int) -> None:
        self.sample = (task.train.x[:1], task.train.y[:1])

    def generators(self) -> dict[str, torch.Generator]:
        return {"replay": self.generator}

    def state_dict(self) -> dict[str, int]:
        return {"seen": self.seen}

    def load_state_dict(self, saved: dict[str, int]) -> None:
        self.seen = validate_state(ReplayState, saved, "Replay").seen

    def tensors(self) -> dict[str, torch.Tensor]:
        return {} if self.x is None or self.y is None else {"x": self.x, "y": self.y}

    def load_tensors(self, saved: dict[str, torch.Tensor]) -> None:
        """The saved buffer: min(seen, capacity) samples of the tasks' kind (shape and dtype), or none."""
        size = min(self.seen, self.capacity)
        if not saved and not size:
            self.x = self.y = None
            return
        if set(saved) != {"x", "y"} or self.sample is None:
            raise ValueError(f"the replay buffer must hold x and y ({size} samples); got {', '.join(sorted(saved)) or 'none'}")
        for name, like in zip(("x", "y"), self.sample):
            tensor = saved[name]
            if len(tensor) != size or tensor.shape[1:] != like.shape[1:] or tensor.dtype != like.dtype:
                raise ValueError(f"the replay buffer's {name} is {tensor.dtype} {tuple(tensor.shape)}; "
                                 f"{size} samples of {like.dtype} {tuple(like.shape[1:])} were expected")
        self.x, self.y = saved["x"].clone(), saved["y"].clone()

    def on_batch_start(self, state: State) -> None:
        xb, yb = state.xb, state.yb
        if len(self):
            count = min(len(self), self.replay_batch or len(xb))
            index = torch.randint(len(self), (count,), generator=self.generator)
            state.xb = torch.cat([xb, self.x[index].to(xb.device)])
            state.yb = torch.cat([yb, self.y[index].to(yb.device)])
        if state.epoch == 0:  # each sample of the task is offered to the buffer once
            self.add(xb.detach().cpu(), yb.detach().cpu())

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Reservoir sampling (Vitter's algorithm R) of a batch into the buffer."""
        for i in range(len(x)):
            if len(self) < self.capacity:
                self.x = x[i : i + 1].clone() if self.x is None else torch.cat([self.x, x[i : i + 1]])
                self.y = y[i : i + 1].clone() if self.y is None else torch.cat([self.y, y[i : i + 1]])
            else:
                j = int(torch.randint(self.seen + 1, (1,), generator=self.generator))
                if j < self.capacity:
                    self.x[j], self.y[j] = x[i], y[i]
            self.seen += 1


class ReplayState(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    seen: int = Field(ge=0, le=2**53)


class LwF(Strategy):
    """Learning without forgetting: distill the previous model's outputs on the new task's inputs."""

    def __init__(self, alpha: float, temperature: float) -> None:
        self.alpha, self.temperature = alpha, temperature
        self.teacher: nn.Module | None = None

    def before_task(self, model: nn.Module, task: Task, index: int) -> None:
        if index > 0:
            self.teacher = copy.deepcopy(model).eval()
            for p in self.teacher.parameters():
                p.requires_grad_(False)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {} if self.teacher is None else {f"teacher.{k}": v for k, v in self.teacher.state_dict().items()}

    def load_tensors(self, saved: dict[str, torch.Tensor]) -> None:
        """The teacher's weights (a resumed task's teacher is the model as the task began, not as it resumed)."""
        if self.teacher is None:
            if saved:
                raise ValueError("LwF's saved teacher belongs to a later task than this one")
            return
        expected = self.teacher.state_dict()
        weights = {k.removeprefix("teacher."): v for k, v in saved.items()}
        if set(weights) != set(expected) or any(weights[k].shape != v.shape for k, v in expected.items()):
            raise ValueError("LwF's saved teacher does not fit this model")
        self.teacher.load_state_dict(weights)

    def on_loss(self, state: State) -> None:
        if self.teacher is None or not self.alpha:
            return
        t = self.temperature
        with torch.no_grad():
            old = self.teacher(state.xb).float()
        distill = F.kl_div(log_probs(state.outputs / t), log_probs(old / t),
                           reduction="batchmean", log_target=True)
        state.objective = state.objective + self.alpha * t * t * distill


def log_probs(outputs: torch.Tensor) -> torch.Tensor:
    """Log class probabilities: log-softmax over logits, or [log(1-p), log p] for one binary logit."""
    if outputs.shape[1] == 1:
        return torch.cat([F.logsigmoid(-outputs), F.logsigmoid(outputs)], dim=1)
    return F.log_softmax(outputs, dim=1)


def make_strategy(spec: ContinualSpec, seed: int = 0) -> Strategy:
    """The strategy ``continual.strategy`` names, with its settings."""
    if spec.strategy == "ewc":
        return EWC(spec.ewc_lambda, spec.fisher_samples, seed)
    if spec.strategy == "replay":
        return Replay(spec.buffer_size, spec.replay_batch, seed)
    if spec.strategy == "lwf":
        return LwF(spec.lwf_alpha, spec.lwf_temperature)
    return Naive()
