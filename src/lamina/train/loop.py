"""The training loop, one for every model family: a family's ``Step`` says what one batch means.

    (resume: restore weights, optimizers, schedules, RNGs, position)
    for epoch:
        on_epoch_start
        for batch (the rest of the epoch after a mid-epoch resume):
            on_batch_start (may replace the batch)
            -> step.train_step(state, batch): forward -> loss -> state.update(loss, name)
               update: (+ L1/L2) -> on_loss (may add terms) -> backward
                       once every train.accumulate_steps batches (and at the epoch's end):
                       check finite -> on_after_backward -> clip -> step -> schedule
            -> on_batch_end
        step.validate -> logs -> on_epoch_end   (callbacks may raise StopTraining)

``state.update`` is the only way an optimizer steps; a GAN's step calls it twice
per batch, in order. Accumulated micro-batches are weighted by their share of
their group's samples, so k of them make exactly the update of one batch k times larger.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lamina.config import TrainSpec
from lamina.data.batches import make_batches
from lamina.data.prepare import Prepared
from lamina.train.accumulation import accumulation_shares, combine
from lamina.train.callbacks import EVENTS, Callback, StopTraining, handlers
from lamina.train.distributed import current_world, shard_weights, sum_over_ranks, wrap
from lamina.train.finite import TrainingDiverged, check_finite
from lamina.train.optim import Optimizers, Schedules, make_optimizer, make_schedule
from lamina.train.speed import compiled
from lamina.train.steps import Step


@dataclass
class State:
    """What callbacks and steps see: the model, optimizers and progress counters, and the last epoch's logs."""

    model: nn.Module
    optimizer: torch.optim.Optimizer  # the only one, or all of a step's named optimizers as one (checkpoints)
    scheduler: Any
    spec: TrainSpec
    epochs: int
    steps_per_epoch: int
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None
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
    net: Any = None  # the model as trained (DDP-wrapped or compiled where configured)
    autocast: Any = None  # the precision context for forward passes
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    schedulers: dict[str, Any] = field(default_factory=dict)
    hooks: dict[str, list[Any]] = field(default_factory=dict)
    params: dict[str, list[torch.Tensor]] = field(default_factory=dict)  # what each optimizer checks and clips
    penalized: dict[str, list[torch.Tensor]] = field(default_factory=dict)  # weights under L1/L2
    shares: list[float] | None = None
    pending: dict[str, list[torch.Tensor]] = field(default_factory=dict)  # losses of each open accumulation group

    @property
    def at_update(self) -> bool:
        """Whether the batch just done ends an accumulation group (so the optimizer steps after it)."""
        return self.batch % self.spec.accumulate_steps == 0 or self.batch == self.steps_per_epoch

    def emit(self, event: str) -> None:
        """Call every callback's handler of ``event``."""
        for hook in self.hooks[event]:
            hook(self)

    def update(self, loss: torch.Tensor, name: str = "main") -> None:
        """Backpropagate ``loss`` into optimizer ``name``'s parameters; step it when the accumulation group ends.

        The only way an optimizer steps. L1/L2 are added and ``on_loss`` lets callbacks add terms first.
        """
        spec, k = self.spec, self.spec.accumulate_steps
        self.loss = loss
        penalized = self.penalized[name]
        self.objective = loss + penalty(penalized, spec.l1, spec.l2) if penalized else loss
        self.emit("on_loss")
        optimizer = self.optimizers[name]
        if self.batch % k == 0:
            optimizer.zero_grad(set_to_none=True)
            self.pending[name] = []
        share = self.shares[self.batch] if self.shares else None
        scaled = self.scaler.scale(self.objective if share is None else self.objective * share)
        # with several optimizers each loss feeds only its own parameters (a GAN's G loss leaves D's gradients)
        scaled.backward(inputs=self.params[name] if len(self.optimizers) > 1 else None)
        self.pending[name].append(loss.detach())
        if (self.batch + 1) % k and self.batch + 1 != self.steps_per_epoch:
            return
        self.scaler.unscale_(optimizer)
        check_finite(self, name)
        self.emit("on_after_backward")
        clip(self.params[name], spec)
        self.scaler.step(optimizer)
        self.scaler.update()
        if self.schedulers.get(name) is not None:
            self.schedulers[name].step()


def fit(model: nn.Module, data: Prepared, spec: TrainSpec, callbacks: list[Callback], device: torch.device,
        seed: int = 0, batch_path: str = "auto", workers: int = 0, resume: Any = None,
        groups: list[dict[str, Any]] | None = None, step: Step | None = None,
        sampler: str = "shuffle", batches: Any = None) -> State:
    """Train ``model`` on ``data.train`` batch by batch as ``step`` says, validating after every epoch.

    ``step`` is the model family's :class:`lamina.train.steps.Step` (None: supervised, ``data.train.y`` the targets).
    ``groups`` are optimizer parameter groups with their own rates (see lamina.train.groups);
    None trains every parameter at ``spec.optimizer.lr``.
    ``batch_path`` picks the in-memory fast path or the DataLoader path ('auto' decides by size).
    ``resume`` (a loaded :class:`lamina.train.checkpoint.Checkpoint`) continues where it was saved.
    ``sampler`` 'balanced' draws training classes equally often (``data.sampler``).
    ``batches`` replaces the batches of ``data.train``: a resumable source of the family's own
    (a language model's random windows; its ``samples`` counts an epoch's samples).
    """
    if step is None:
        from lamina.train.supervised import Supervised

        step = Supervised()
    model.to(device)
    world = current_world()
    samples = len(data.train) if batches is None else batches.samples
    if batches is None:
        batches = make_batches(data.train.x, data.train.y, spec.batch_size, True, device,
                               path=batch_path, seed=seed, workers=workers, rank=world.rank, world=world.size,
                               sampler=sampler)
    per_epoch = -(-len(batches) // spec.accumulate_steps)
    optimizers = {name: make_optimizer(params, spec.optimizer)
                  for name, params in step.parameters(model, groups).items()}
    schedulers = {name: make_schedule(opt, spec.schedule, spec.epochs, per_epoch) for name, opt in optimizers.items()}
    scaler = torch.amp.GradScaler(device.type, enabled=spec.precision == "fp16")  # a pass-through unless fp16
    single = len(optimizers) == 1
    optimizer = next(iter(optimizers.values())) if single else Optimizers(optimizers)
    scheduler = next(iter(schedulers.values())) if single else Schedules.of(schedulers)
    state = State(model, optimizer, scheduler, spec, spec.epochs, len(batches), None, device, data,
                  batches, scaler, callbacks)
    state.optimizers, state.schedulers = optimizers, schedulers
    state.shares = combine(accumulation_shares(samples, spec.batch_size, spec.accumulate_steps),
                           shard_weights(samples, spec.batch_size, world))
    state.net = compiled(wrap(model, device)) if spec.compile else wrap(model, device)  # DDP under several processes
    state.params = {name: list(model.parameters()) if single else [p for g in opt.param_groups for p in g["params"]]
                    for name, opt in optimizers.items()}
    regularized = bool(spec.l1 or spec.l2)  # when off, skip adding 0.0 (an extra autograd node every step)
    state.penalized = {name: [p for p in params if p.dim() > 1] if regularized else []  # weights, not biases
                       for name, params in state.params.items()}
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(spec.precision)
    state.autocast = torch.autocast(device.type, dtype=low) if low is not None else nullcontext()
    state.hooks = {event: handlers(callbacks, event) for event in EVENTS}
    step.start(state)

    if resume is not None:
        resume.restore(state)
    state.emit("on_train_start")
    try:
        for epoch in range(state.epoch, spec.epochs):
            state.epoch = epoch
            state.emit("on_epoch_start")
            model.train()
            for xb, yb in batches:
                state.xb, state.yb = xb, yb
                state.emit("on_batch_start")
                try:
                    loss = step.train_step(state, (state.xb, state.yb))
                except TrainingDiverged:
                    if len(step.loss_names) == 1:
                        state.batch_losses.append(state.loss.detach())  # the losses log ends with the bad one
                    raise
                state.batch += 1
                state.batch_losses.append(loss.detach())  # summed once per epoch (no per-step sync)
                state.batch_sizes.append(len(state.xb))
                if state.at_update:
                    state.step += 1
                state.emit("on_batch_end")
            state.logs = epoch_logs(state, step.loss_names) | step.validate(state)
            state.logs["lr"] = state.optimizer.param_groups[0]["lr"]
            state.history.append(state.logs)
            state.emit("on_epoch_end")
    except StopTraining as stop:
        state.stop_reason = str(stop)
    finally:
        state.emit("on_train_end")  # also on errors, so bars stop and logs are closed
    return state


def epoch_logs(state: State, names: tuple[str, ...]) -> dict[str, Any]:
    """The finished epoch's mean training loss(es) over all ranks; moves its batch losses to ``state.loss_log``."""
    losses = torch.stack(state.batch_losses).float()  # (B,) or (B, len(names))
    sizes = torch.tensor(state.batch_sizes, dtype=torch.float32, device=state.device)
    *totals, count = sum_over_ranks(torch.cat([(sizes @ losses).reshape(-1), sizes.sum().reshape(1)]).cpu()).tolist()
    state.loss_log.append(losses.cpu())
    state.batch, state.batch_losses, state.batch_sizes = 0, [], []
    logs: dict[str, Any] = {"epoch": state.epoch + 1, "train_loss": sum(totals) / count}
    if len(names) > 1:
        logs.update({name: total / count for name, total in zip(names, totals)})
    return logs


def penalty(weights: list[torch.Tensor], l1: float, l2: float) -> torch.Tensor | float:
    """L1 and L2 penalties on weight matrices and kernels (0.0 when both are off)."""
    out: torch.Tensor | float = 0.0
    if l1:
        out = out + l1 * sum(w.abs().sum() for w in weights)
    if l2:
        out = out + l2 * sum(w.pow(2).sum() for w in weights)
    return out


def clip(params: list[torch.Tensor], spec: TrainSpec) -> None:
    """Clip the gradients of ``params`` by value and/or by global norm, as configured."""
    if spec.clip_value is not None:
        nn.utils.clip_grad_value_(params, spec.clip_value)
    if spec.clip_norm is not None:
        nn.utils.clip_grad_norm_(params, spec.clip_norm)


