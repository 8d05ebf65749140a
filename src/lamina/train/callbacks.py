"""Loop events and the callbacks that ship with lamina.

The loop emits a closed set of named events; a callback overrides the ones it
needs, and only overridden events cost anything per step. Stopping early is a
named exception (:class:`StopTraining`), raised from ``on_epoch_end``.

Per batch, in order:

* ``on_batch_start``: ``state.xb`` / ``state.yb`` hold the batch; a callback may
  replace them (augmentation, adversarial examples, mixup).
* ``on_loss``: ``state.outputs`` and ``state.loss`` (the data loss) are set; a
  callback may add terms to ``state.objective`` (EWC, distillation).
* ``on_after_backward``: gradients are in ``.grad`` (monitors), before clipping;
  with ``train.accumulate_steps`` > 1, once per optimizer step, when a group's
  gradients are complete.
* ``on_batch_end``: after every batch (``state.at_update``: the optimizer and
  schedule stepped after it).

A callback that keeps state across epochs (early stopping's patience, the
best value so far) returns it from ``state_dict`` as plain JSON data and takes
it back in ``load_state_dict``, so checkpoints carry it and a resumed run
behaves as one that never stopped. A callback that draws random numbers names
its generators in ``generators``: checkpoints save their states and a resume
restores them (never re-seeds them), so its draws continue where they stopped.
A callback whose state holds tensors (EWC's Fisher information, a replay
buffer) returns them from ``tensors`` and takes them back in ``load_tensors``:
checkpoints keep them in safetensors, never in JSON.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lamina.errors import ConfigError, did_you_mean
from lamina.files import atomic_write_text

if TYPE_CHECKING:
    from lamina.train.loop import State

EVENTS = ("on_train_start", "on_epoch_start", "on_batch_start", "on_loss", "on_after_backward", "on_batch_end",
          "on_epoch_end", "on_train_end")


class StopTraining(Exception):
    """Raised by a callback to end training after the current epoch."""


class Callback:
    """Base class: override any of the events in ``EVENTS``; each receives the loop state."""

    def on_train_start(self, state: State) -> None:
        """Called once before the first epoch."""

    def on_epoch_start(self, state: State) -> None:
        """Called before each epoch's first batch."""

    def on_batch_start(self, state: State) -> None:
        """Called before the forward pass; may replace ``state.xb`` and ``state.yb``."""

    def on_loss(self, state: State) -> None:
        """Called after the loss; may add terms to ``state.objective`` (a scalar tensor)."""

    def on_after_backward(self, state: State) -> None:
        """Called after backward, before clipping and the optimizer step."""

    def on_batch_end(self, state: State) -> None:
        """Called after each optimizer step (keep it cheap: it runs every batch)."""

    def on_epoch_end(self, state: State) -> None:
        """Called after validation; ``state.logs`` holds the epoch's metrics."""

    def on_train_end(self, state: State) -> None:
        """Called once after the last epoch (or an early stop)."""

    def state_dict(self) -> dict[str, Any]:
        """State to save in checkpoints (plain JSON data); empty for a stateless callback."""
        return {}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Take back what ``state_dict`` returned (raise ValueError when it is malformed)."""

    def generators(self) -> dict[str, torch.Generator]:
        """The random generators this callback draws from, by name: checkpoints save and restore their states."""
        return {}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Tensors of this callback's state, by name (saved in checkpoints as safetensors); none by default."""
        return {}

    def load_tensors(self, saved: dict[str, torch.Tensor]) -> None:
        """Take back what ``tensors`` returned (raise ValueError when they do not fit)."""


def handlers(callbacks: list[Callback], event: str) -> list[Any]:
    """The bound ``event`` methods of the callbacks that override it (the base ones do nothing)."""
    base = getattr(Callback, event)
    return [getattr(cb, event) for cb in callbacks if getattr(type(cb), event, base) is not base]


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` in direction ``mode``."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def check_monitor(monitor: str, available: list[str], field: str) -> None:
    """Refuse a monitor name the loop will never log."""
    if monitor not in available:
        raise ConfigError(f"{field} must be one of {', '.join(available)}; got {monitor!r}.{did_you_mean(monitor, available)}")


def validate_state(schema: type[BaseModel], saved: dict[str, Any], name: str) -> Any:
    """A callback's saved state checked against ``schema``; a ValueError naming the first bad field otherwise."""
    try:
        return schema.model_validate(saved)
    except ValidationError as exc:
        raise ValueError(f"callbacks.{name}.{first_problem(exc)}") from None


def first_problem(exc: ValidationError) -> str:
    """The first problem pydantic found, as ``field.path: message; got value`` (the value cut short)."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if not where:
        return message
    got = json.dumps(err["input"], default=str) if "input" in err else ""
    return f"{where}: {message}; got {got if len(got) <= 60 else got[:57] + '...'}"


class EarlyStoppingState(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    best: float | None
    waited: int = Field(ge=0, le=2**53)


class EarlyStopping(Callback):
    """Stop when the monitored value has not improved for ``patience`` epochs."""

    @classmethod
    def from_spec(cls, spec: Any, higher: Any = None) -> EarlyStopping:
        """The callback a config's ``train.early_stopping`` section describes, in every family; mode ``auto``
        watches for a rise when ``higher(monitor)`` (default: the metric registry's direction), else a fall."""
        if higher is None:
            from lamina.evaluate.metrics import higher_is_better as higher
        mode = spec.mode if spec.mode != "auto" else ("max" if higher(spec.monitor) else "min")
        return cls(spec.monitor, mode, spec.patience, spec.min_delta)

    def __init__(self, monitor: str, mode: str, patience: int, min_delta: float) -> None:
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.best: float | None = None
        self.waited = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "waited": self.waited}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        kept = validate_state(EarlyStoppingState, saved, "EarlyStopping")
        self.best, self.waited = kept.best, kept.waited

    def on_epoch_end(self, state: State) -> None:
        value = state.logs[self.monitor]
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.waited = value, 0
            return
        self.waited += 1
        if self.waited >= self.patience:
            state.stopped_early = True
            raise StopTraining(f"{self.monitor} did not improve for {self.patience} epochs")


class MetricsLog(Callback):
    """Append one JSON line per epoch to metrics.jsonl; the file is fsynced once, when training ends.

    It starts from the epochs already done (none, or a resumed checkpoint's), so
    lines written after that checkpoint by an interrupted run are dropped. Wall
    times are left out, so the same config and seed give the same file.
    ``tag`` fields lead every line and ``head`` is kept before them (a task
    sequence writes one file over several trainings: ``{"task": 2, ...}``).
    """

    def __init__(self, path: Path, tag: dict[str, Any] | None = None, head: str = "") -> None:
        self.path, self.tag, self.head = path, tag or {}, head

    def on_train_start(self, state: State) -> None:
        atomic_write_text(self.path, self.head + "".join(json.dumps(self.tag | logs) + "\n" for logs in state.history))

    def on_epoch_end(self, state: State) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(self.tag | state.logs) + "\n")

    def on_train_end(self, state: State) -> None:
        if self.path.exists():
            with self.path.open("a", encoding="utf-8") as handle:
                os.fsync(handle.fileno())


class LossLog(Callback):
    """One JSON line per training batch in losses.jsonl (epoch, batch, loss), written at each epoch's end.

    Like :class:`MetricsLog` it starts from the batches already done (after ``head``,
    every line led by the ``tag`` fields), and when training fails part-way it adds
    the unfinished epoch's batches.
    """

    def __init__(self, path: Path, tag: dict[str, Any] | None = None, head: str = "") -> None:
        self.path, self.tag, self.head = path, tag or {}, head

    def on_train_start(self, state: State) -> None:
        atomic_write_text(self.path, self.head + "".join(_loss_lines(e + 1, losses, self.tag)
                                                         for e, losses in enumerate(state.loss_log)))

    def on_epoch_end(self, state: State) -> None:
        self._append(_loss_lines(state.logs["epoch"], state.loss_log[-1], self.tag))

    def on_train_end(self, state: State) -> None:
        partial = [float(loss) for loss in state.batch_losses]  # an unfinished epoch (a failure)
        self._append(_loss_lines(state.epoch + 1, partial, self.tag) if partial else "", sync=True)

    def _append(self, text: str, sync: bool = False) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(text)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())


def _loss_lines(epoch: int, losses: Any, tag: dict[str, Any] | None = None) -> str:
    values = losses.tolist() if hasattr(losses, "tolist") else losses
    lead = tag or {}
    return "".join(json.dumps(lead | {"epoch": epoch, "batch": i + 1, "loss": v}) + "\n" for i, v in enumerate(values))


class TensorBoardLog(Callback):
    """Write each epoch's scalars as TensorBoard events under the run's tensorboard/ folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writer: Any = None

    def on_train_start(self, state: State) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.folder))

    def on_epoch_end(self, state: State) -> None:
        for key, value in state.logs.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, state.logs["epoch"])

    def on_train_end(self, state: State) -> None:
        if self.writer is not None:
            self.writer.close()


PROGRESS_STYLES = ("auto", "bar", "plain", "none")


def check_progress(style: str, field: str = "progress") -> str:
    """``style`` when it is one of PROGRESS_STYLES; anything else is refused, naming the allowed values."""
    if style not in PROGRESS_STYLES:
        raise ConfigError(f"{field} must be one of {', '.join(PROGRESS_STYLES)}; got {style!r}."
                          + did_you_mean(str(style), PROGRESS_STYLES))
    return style


class Progress(Callback):
    """A rich progress bar on a terminal; plain per-epoch lines otherwise ('none' prints nothing)."""

    def __init__(self, style: str = "auto", stream: Any = None) -> None:
        check_progress(style)
        self.stream = stream or sys.stderr
        if style == "auto":
            style = "bar" if getattr(self.stream, "isatty", lambda: False)() else "plain"
        self.style = style
        self.bar: Any = None
        self.task: Any = None
        self.started = 0.0

    def on_train_start(self, state: State) -> None:
        self.started = time.perf_counter()
        if self.style == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
                console=Console(file=self.stream), transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=state.epochs * state.steps_per_epoch, metrics="",
                                          completed=state.epoch * state.steps_per_epoch + state.batch)

    def on_epoch_start(self, state: State) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=f"epoch {state.epoch + 1}/{state.epochs}")

    def on_batch_end(self, state: State) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def on_epoch_end(self, state: State) -> None:
        text = format_logs(state.logs)
        if self.bar is not None:
            self.bar.update(self.task, metrics=text)
        elif self.style == "plain":
            every = max(1, state.epochs // 20)
            epoch = state.logs["epoch"]
            if epoch % every == 0 or epoch in (1, state.epochs):
                print(f"epoch {epoch}/{state.epochs}  {text}  ({time.perf_counter() - self.started:.1f}s)",
                      file=self.stream, flush=True)

    def on_train_end(self, state: State) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=self.bar.tasks[0].total)
            self.bar.stop()
        if state.stopped_early and self.style != "none":
            print(f"stopped early after epoch {state.logs.get('epoch')}: {state.stop_reason}", file=self.stream)


def format_logs(logs: dict[str, Any]) -> str:
    """Epoch logs as short ``key value`` pairs for progress output."""
    parts = []
    for key, value in logs.items():
        if key in ("epoch", "lr") or not isinstance(value, float):
            continue
        parts.append(f"{key} {value:.4f}")
    return "  ".join(parts)
