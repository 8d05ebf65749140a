"""The training loop: a few named steps, with everything optional entering through callbacks.

    for epoch:
        on_epoch_start
        for batch:
            on_batch_start (may replace the batch) -> forward -> loss (+ L1/L2)
            -> on_loss (may add terms) -> backward -> on_after_backward
            -> clip -> step -> schedule -> on_batch_end
        validate -> logs -> on_epoch_end   (callbacks may raise StopTraining)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lamina.config import TrainSpec
from lamina.data.batches import make_batches
from lamina.data.prepare import Prepared, Split
from lamina.data.preprocess import TargetPrep
from lamina.errors import LaminaError
from lamina.evaluate.metrics import compute_metrics, outputs_to_preds, resolve_epoch_metrics
from lamina.train.callbacks import EVENTS, Callback, StopTraining, handlers
from lamina.train.losses import loss_for
from lamina.train.optim import make_optimizer, make_schedule


class TrainingDiverged(LaminaError):
    """The loss became NaN or infinite."""


@dataclass
class State:
    """What callbacks see: the model, optimizer and progress counters, and the last epoch's logs."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    spec: TrainSpec
    epochs: int
    steps_per_epoch: int
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    device: torch.device
    data: Prepared
    generator: torch.Generator | None = None
    epoch: int = 0
    step: int = 0
    logs: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    stop_reason: str = ""
    xb: Any = None
    yb: Any = None
    outputs: Any = None
    loss: Any = None
    objective: Any = None


def resolve_device(name: str) -> torch.device:
    """'auto' means CUDA when present, else CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LaminaError("train.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def fit(model: nn.Module, data: Prepared, spec: TrainSpec, callbacks: list[Callback], device: torch.device,
        seed: int = 0, batch_path: str = "auto", workers: int = 0) -> State:
    """Train ``model`` on ``data.train``, validating on ``data.val`` after every epoch.

    ``batch_path`` picks the in-memory fast path or the DataLoader path ('auto' decides by size).
    """
    model.to(device)
    loss_fn = loss_for(spec, data.task)
    metric_names = resolve_epoch_metrics(spec.epoch_metrics, data.task)
    batches = make_batches(data.train.x, data.train.y, spec.batch_size, True, device,
                           path=batch_path, seed=seed, workers=workers)
    optimizer = make_optimizer(model.parameters(), spec.optimizer)
    scheduler = make_schedule(optimizer, spec.schedule, spec.epochs, len(batches))
    state = State(model, optimizer, scheduler, spec, spec.epochs, len(batches), loss_fn, device, data,
                  getattr(batches, "generator", None))
    penalized = [p for name, p in model.named_parameters() if p.dim() > 1]  # weights, not biases or norm scales
    regularized = bool(spec.l1 or spec.l2)  # when off, skip adding 0.0 (an extra autograd node every step)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if spec.precision == "bf16" else nullcontext())

    hooks = {event: handlers(callbacks, event) for event in EVENTS}

    def emit(event: str) -> None:
        for hook in hooks[event]:
            hook(state)

    emit("on_train_start")
    try:
        for epoch in range(spec.epochs):
            state.epoch = epoch
            started = time.perf_counter()
            emit("on_epoch_start")
            model.train()
            losses, sizes = [], []  # per-batch mean losses, summed once per epoch (no per-step sync)
            for xb, yb in batches:
                state.xb, state.yb = xb, yb
                emit("on_batch_start")
                with autocast:
                    state.outputs = model(state.xb).float()
                    loss = loss_fn(state.outputs, state.yb)
                state.loss = loss
                state.objective = loss + penalty(penalized, spec.l1, spec.l2) if regularized else loss
                emit("on_loss")
                optimizer.zero_grad(set_to_none=True)
                state.objective.backward()
                emit("on_after_backward")
                clip(model, spec)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                losses.append(loss.detach())
                sizes.append(len(state.xb))
                state.step += 1
                emit("on_batch_end")
            weights = torch.tensor(sizes, dtype=torch.float32, device=device)
            train_loss = float(torch.stack(losses) @ weights) / sum(sizes)
            if not math.isfinite(train_loss):
                raise TrainingDiverged(
                    f"the training loss became {train_loss} in epoch {epoch + 1} (step {state.step}); "
                    "lower train.optimizer.lr or set train.clip_norm"
                )
            logs = {"epoch": epoch + 1, "train_loss": train_loss}
            logs.update(validate(model, data.val, loss_fn, data, metric_names, spec.batch_size, device, autocast))
            logs["lr"] = optimizer.param_groups[0]["lr"]
            logs["seconds"] = round(time.perf_counter() - started, 4)
            state.logs = logs
            state.history.append(logs)
            emit("on_epoch_end")
    except StopTraining as stop:
        state.stop_reason = str(stop)
    finally:
        emit("on_train_end")  # also on errors, so bars stop and logs are closed
    return state


def penalty(weights: list[torch.Tensor], l1: float, l2: float) -> torch.Tensor | float:
    """L1 and L2 penalties on weight matrices and kernels (0.0 when both are off)."""
    out: torch.Tensor | float = 0.0
    if l1:
        out = out + l1 * sum(w.abs().sum() for w in weights)
    if l2:
        out = out + l2 * sum(w.pow(2).sum() for w in weights)
    return out


def clip(model: nn.Module, spec: TrainSpec) -> None:
    """Clip gradients by value and/or by global norm, as configured."""
    if spec.clip_value is not None:
        nn.utils.clip_grad_value_(model.parameters(), spec.clip_value)
    if spec.clip_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), spec.clip_norm)


@torch.no_grad()
def model_outputs(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device,
                  autocast: Any = None) -> torch.Tensor:
    """Model outputs for ``x`` in eval mode, in fixed-size chunks, as float32 on the CPU."""
    model.eval()
    chunks = []
    for start in range(0, len(x), batch_size):
        with autocast or nullcontext():
            chunks.append(model(x[start : start + batch_size].to(device)).float().cpu())
    if not chunks:
        return torch.empty(0)
    return torch.cat(chunks)


def validate(model: nn.Module, split: Split, loss_fn: Callable, data: Prepared, metric_names: list[str],
             batch_size: int, device: torch.device, autocast: Any = None) -> dict[str, float]:
    """Validation loss and the task's epoch metrics (``val_`` prefixed); empty when there is no val split."""
    if len(split) == 0:
        return {}
    outputs = model_outputs(model, split.x, batch_size, device, autocast)
    logs = {"val_loss": float(loss_fn(outputs, split.y))}
    scores = score(outputs, split.y, data.preprocessor.target, metric_names)
    logs.update({f"val_{k}": v for k, v in scores.items()})
    return logs


def score(outputs: torch.Tensor, target: torch.Tensor, target_prep: TargetPrep, names: list[str]) -> dict[str, Any]:
    """Metrics of ``outputs`` against encoded ``target``; regression is scored in the target's units."""
    preds = outputs_to_preds(outputs, target_prep.task)
    if target_prep.task == "regression":
        preds = torch.as_tensor(target_prep.decode_values(preds.double().numpy()))
        target = torch.as_tensor(target_prep.decode_values(target.double().numpy()))
        if preds.shape[1] == 1:
            preds, target = preds[:, 0], target[:, 0]
    return compute_metrics(names, target_prep.task, preds, target, target_prep.n_outputs)
