"""The training loop: a few named steps, with everything optional entering through callbacks.

    (resume: restore weights, optimizer, schedule, RNGs, position)
    for epoch:
        on_epoch_start
        for batch (the rest of the epoch after a mid-epoch resume):
            on_batch_start (may replace the batch) -> forward -> loss (+ L1/L2)
            -> on_loss (may add terms) -> backward
            once every train.accumulate_steps batches (and at the epoch's end):
                check finite -> on_after_backward -> clip -> step -> schedule
            -> on_batch_end
        validate -> logs -> on_epoch_end   (callbacks may raise StopTraining)

Accumulated micro-batches are weighted by their share of their group's
samples, so k of them make exactly the update of one batch k times larger.
"""

from __future__ import annotations

import math
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
from lamina.train.distributed import current_world, gather_rows, rank_slice, shard_weights, sum_over_ranks, wrap
from lamina.train.losses import loss_for
from lamina.train.optim import make_optimizer, make_schedule
from lamina.train.speed import compiled


class TrainingDiverged(LaminaError):
    """The loss or a gradient became NaN or infinite."""


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
    batches: Any = None
    scaler: Any = None
    callbacks: list[Callback] = field(default_factory=list)
    epoch: int = 0
    batch: int = 0  # batches done in the current epoch
    step: int = 0  # optimizer steps done
    logs: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    batch_losses: list[torch.Tensor] = field(default_factory=list)  # the current epoch's, one per batch
    batch_sizes: list[int] = field(default_factory=list)
    loss_log: list[torch.Tensor] = field(default_factory=list)  # per-batch losses of each finished epoch
    stopped_early: bool = False
    stop_reason: str = ""
    xb: Any = None
    yb: Any = None
    outputs: Any = None
    loss: Any = None
    objective: Any = None

    @property
    def at_update(self) -> bool:
        """Whether the batch just done ends an accumulation group (so the optimizer steps after it)."""
        return self.batch % self.spec.accumulate_steps == 0 or self.batch == self.steps_per_epoch


def resolve_device(name: str) -> torch.device:
    """'auto' means CUDA when present, else CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LaminaError("train.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def fit(model: nn.Module, data: Prepared, spec: TrainSpec, callbacks: list[Callback], device: torch.device,
        seed: int = 0, batch_path: str = "auto", workers: int = 0, resume: Any = None,
        groups: list[dict[str, Any]] | None = None, sampler: str = "shuffle") -> State:
    """Train ``model`` on ``data.train``, validating on ``data.val`` after every epoch.

    ``groups`` are optimizer parameter groups with their own rates (see lamina.train.groups);
    None trains every parameter at ``spec.optimizer.lr``.
    ``batch_path`` picks the in-memory fast path or the DataLoader path ('auto' decides by size).
    ``resume`` (a loaded :class:`lamina.train.checkpoint.Checkpoint`) continues where it was saved.
    ``sampler`` 'balanced' draws training classes equally often (``data.sampler``).
    """
    model.to(device)
    loss_fn = loss_for(spec, data.task, data.train.y, data.preprocessor.target.classes)
    metric_names = resolve_epoch_metrics(spec.epoch_metrics, data.task)
    world = current_world()
    batches = make_batches(data.train.x, data.train.y, spec.batch_size, True, device,
                           path=batch_path, seed=seed, workers=workers, rank=world.rank, world=world.size,
                           sampler=sampler)
    k = spec.accumulate_steps
    optimizer = make_optimizer(groups or model.parameters(), spec.optimizer)
    scheduler = make_schedule(optimizer, spec.schedule, spec.epochs, -(-len(batches) // k))
    scaler = torch.amp.GradScaler(device.type, enabled=spec.precision == "fp16")  # a pass-through unless fp16
    state = State(model, optimizer, scheduler, spec, spec.epochs, len(batches), loss_fn, device, data,
                  batches, scaler, callbacks)
    shares = combine(accumulation_shares(len(data.train), spec.batch_size, k),
                     shard_weights(len(data.train), spec.batch_size, world))
    net = wrap(model, device)  # DistributedDataParallel under several processes
    if spec.compile:
        net = compiled(net)
    params = list(model.parameters())
    penalized = [p for p in params if p.dim() > 1]  # weights, not biases or norm scales
    regularized = bool(spec.l1 or spec.l2)  # when off, skip adding 0.0 (an extra autograd node every step)
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(spec.precision)
    autocast = torch.autocast(device.type, dtype=low) if low is not None else nullcontext()

    hooks = {event: handlers(callbacks, event) for event in EVENTS}

    def emit(event: str) -> None:
        for hook in hooks[event]:
            hook(state)

    if resume is not None:
        resume.restore(state)
    emit("on_train_start")
    try:
        for epoch in range(state.epoch, spec.epochs):
            state.epoch = epoch
            emit("on_epoch_start")
            model.train()
            for xb, yb in batches:
                state.xb, state.yb = xb, yb
                emit("on_batch_start")
                with autocast:
                    state.outputs = net(state.xb).float()
                    loss = loss_fn(state.outputs, state.yb)
                state.loss = loss
                state.objective = loss + penalty(penalized, spec.l1, spec.l2) if regularized else loss
                emit("on_loss")
                if state.batch % k == 0:
                    optimizer.zero_grad(set_to_none=True)
                share = shares[state.batch] if shares else None
                scaler.scale(state.objective if share is None else state.objective * share).backward()
                state.batch += 1
                state.batch_losses.append(loss.detach())  # summed once per epoch (no per-step sync)
                state.batch_sizes.append(len(state.xb))
                if state.at_update:
                    scaler.unscale_(optimizer)
                    check_finite(state, params)
                    emit("on_after_backward")
                    clip(model, spec)
                    scaler.step(optimizer)
                    scaler.update()
                    if scheduler is not None:
                        scheduler.step()
                    state.step += 1
                emit("on_batch_end")
            losses = torch.stack(state.batch_losses)
            sizes = torch.tensor(state.batch_sizes, dtype=torch.float32, device=device)
            total, count = sum_over_ranks(torch.stack([losses.float() @ sizes, sizes.sum()]).cpu()).tolist()
            train_loss = total / count
            state.loss_log.append(losses.cpu())
            state.batch, state.batch_losses, state.batch_sizes = 0, [], []
            logs = {"epoch": epoch + 1, "train_loss": train_loss}
            logs.update(validate(model, data.val, loss_fn, data, metric_names, spec.batch_size, device, autocast))
            logs["lr"] = optimizer.param_groups[0]["lr"]
            state.logs = logs
            state.history.append(logs)
            emit("on_epoch_end")
    except StopTraining as stop:
        state.stop_reason = str(stop)
    finally:
        emit("on_train_end")  # also on errors, so bars stop and logs are closed
    return state


def accumulation_shares(n: int, batch_size: int, k: int) -> list[float] | None:
    """Each batch's weight when ``k`` batches are accumulated into one step (None when ``k`` is 1).

    A batch's mean loss counts by its share of its group's samples, so a group's
    summed gradient is that of the mean loss over the whole group: the update of
    one batch ``k`` times larger, including a smaller last batch or last group.
    """
    if k == 1:
        return None
    sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
    shares: list[float] = []
    for first in range(0, len(sizes), k):
        group = sizes[first : first + k]
        shares += [size / sum(group) for size in group]
    return shares


def combine(first: list[float] | None, second: list[float] | None) -> list[float] | None:
    """Per-batch loss weights multiplied together (None stands for all ones)."""
    if first is None or second is None:
        return first or second
    return [a * b for a, b in zip(first, second)]


def check_finite(state: State, params: list[torch.Tensor]) -> None:
    """Stop at this step when a loss or a gradient of ``params`` is NaN or infinite, before the weights change.

    A few sums and one host sync a step. Under fp16 an infinite gradient is the
    grad scaler's business (it skips the step and lowers the scale), so only
    the losses are checked there.
    """
    group = (state.batch - 1) % state.spec.accumulate_steps + 1  # the batches this step accumulates
    losses = state.batch_losses[-1] if group == 1 else torch.stack(state.batch_losses[-group:]).sum()
    grads = [p.grad for p in params if p.grad is not None]
    if grads and not state.scaler.is_enabled():  # a NaN or an infinity survives norms and sums
        if grads[0].is_cuda:
            losses = losses + torch.stack(torch._foreach_norm(grads)).sum()  # a few fused kernels
        else:
            losses = losses + sum(g.sum() for g in grads)  # cheaper than norms on a CPU
    if math.isfinite(float(losses)):
        return
    losses = torch.stack(state.batch_losses[-group:])
    values = losses.float().reshape(-1).tolist()
    bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
    first = state.batch - group + 1
    batch = f"batch {first + (bad or 0)}" if bad is not None or group == 1 else f"batches {first}-{state.batch}"
    what = f"the loss is {values[bad if bad is not None else -1]:.6g}"
    name = next((n for n, p in state.model.named_parameters()
                 if p.grad is not None and not bool(torch.isfinite(p.grad).all())), None)
    if bad is None and name is None:
        return  # all finite, only so large that their sum overflowed: not this check's business
    if name is not None:
        layer = type(state.model.get_submodule(name.rpartition(".")[0])).__name__
        what += f"{';' if bad is not None else ' but'} the first layer with a non-finite gradient is {name} ({layer})"
    raise TrainingDiverged(
        f"training diverged at step {state.step + 1} (epoch {state.epoch + 1}, {batch} of {state.steps_per_epoch}): "
        f"{what}. Lower train.optimizer.lr or set train.clip_norm"
    )


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
    mine = rank_slice(len(split), current_world())  # all rows in a single process
    outputs = gather_rows(model_outputs(model, split.x[mine], batch_size, device, autocast))
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
