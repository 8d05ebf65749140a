"""Learning-rate range test (Leslie Smith; fastai's ``lr_find``), a callback on the one training loop.

Train a fresh copy of the model (``fit`` with the run's own train settings) for a
few hundred steps while the learning rate grows exponentially from ``start`` to
``end``; record the smoothed loss; stop once it exceeds four times its minimum. The suggestion is the rate where the
smoothed loss falls fastest (steepest negative slope on the log-lr axis, over a
few points either side), looked for only after the running mean's warm-up and
below the loss's minimum, and capped at a tenth of the rate with the lowest
loss. A loss that never falls by FALL of its level gives no suggestion.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from lamina.config import RunSpec, ScheduleSpec
from lamina.data.prepare import prepare_data
from lamina.device import resolve_device
from lamina.errors import ConfigError
from lamina.files import write_json
from lamina.nn.build import build_model
from lamina.train.callbacks import Callback, StopTraining
from lamina.train.loop import State, TrainingDiverged, fit
from lamina.train.supervised import Supervised


def lr_find(spec: RunSpec, start: float = 1e-7, end: float = 10.0, steps: int = 100, smooth: float = 0.9,
            out: str | Path | None = None) -> dict[str, Any]:
    """Run the range test for the run ``spec`` describes; returns rates, losses and the suggested rate.

    With ``out``, lr_find.json and lr_find.png (loss against rate, suggestion marked) are written there.
    """
    if not 0 < start < end:
        raise ConfigError(f"lr_find start must be positive and below end; got {start} and {end}")
    if steps < 10:
        raise ConfigError(f"lr_find steps must be at least 10; got {steps}")
    if not 0 <= smooth < 1:
        raise ConfigError(f"lr-find smooth must be at least 0 and below 1; got {smooth}")
    torch.manual_seed(spec.seed)
    data = prepare_data(spec.data)
    device = resolve_device(spec.train.device)
    model = build_model(spec.model, data.input_shape, data.output_shape, data.vocab, data.categories,
                        data.task).model
    per_epoch = -(-len(data.train) // spec.train.batch_size)
    train = spec.train.model_copy(update={"epochs": -(-steps // per_epoch), "accumulate_steps": 1,
                                          "schedule": ScheduleSpec(), "early_stopping": None})
    test = RangeTest(start, (end / start) ** (1 / (steps - 1)), steps, smooth)
    try:
        fit(model, data, train, [test], device, seed=spec.seed, batch_path=spec.data.batch_path, step=Unvalidated())
    except TrainingDiverged:
        pass  # the rate grew past where the loss stays finite: the test ends there, as it should
    rates, losses = test.rates, test.losses
    result = {"rates": rates, "losses": losses, "suggested_lr": suggest(rates, losses, round(1 / (1 - smooth))),
              "min_loss_lr": rates[losses.index(min(losses))] if losses else None}
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "lr_find.json", result)
        plot_lr_find(result, folder / "lr_find.png")
    return result


class Unvalidated(Supervised):
    """The supervised step without the per-epoch validation, which the range test does not read."""

    def validate(self, state: State) -> dict[str, float]:
        return {}


class RangeTest(Callback):
    """Grow the learning rate exponentially each step and record the bias-corrected smoothed loss.

    Stops training (StopTraining) after ``steps`` steps or once the smoothed loss exceeds four times its minimum.
    """

    def __init__(self, start: float, factor: float, steps: int, smooth: float) -> None:
        self.start, self.factor, self.steps, self.smooth = start, factor, steps, smooth
        self.rates: list[float] = []
        self.losses: list[float] = []
        self.avg, self.best = 0.0, math.inf

    def on_batch_start(self, state: State) -> None:
        for group in state.optimizer.param_groups:
            group["lr"] = self.start * self.factor**state.step

    def on_batch_end(self, state: State) -> None:
        self.avg = self.smooth * self.avg + (1 - self.smooth) * float(state.batch_losses[-1])
        smoothed = self.avg / (1 - self.smooth**state.step)  # bias-corrected running mean
        if not math.isfinite(smoothed) or (state.step > 5 and smoothed > 4 * self.best):
            raise StopTraining("the smoothed loss rose past four times its minimum")
        self.rates.append(state.optimizer.param_groups[0]["lr"])
        self.losses.append(smoothed)
        self.best = min(self.best, smoothed)
        if state.step >= self.steps:
            raise StopTraining(f"the range test's {self.steps} steps are done")


FALL = 0.1  # the smoothed loss must fall by this share of its level for a suggestion
REACH = 3  # slopes are taken between the points this many steps either side, so one noisy step cannot win


def suggest(rates: list[float], losses: list[float], warmup: int = 10) -> float | None:
    """The rate of steepest descent of the smoothed loss, at most a tenth of the minimum's rate; None if it never falls.

    The first ``warmup`` points are skipped: while the running mean has seen only a few batches it swings
    (the first batches' noise), and that swing is not the rate at work; taking it gave 1.2e-07 on digits_cnn.
    """
    start = min(warmup, len(losses) // 4)
    kept, values = rates[start:], losses[start:]
    logs = [math.log10(r) for r in kept]
    if len(values) < 2 * REACH + 2:
        return None
    lowest = values.index(min(values))
    if lowest < 2 * REACH or values[lowest] > (1 - FALL) * max(values[: lowest + 1]):
        return None  # no descent worth the name before the minimum
    slopes = {i: (values[i + REACH] - values[i - REACH]) / (logs[i + REACH] - logs[i - REACH])
              for i in range(REACH, lowest - REACH + 1)}
    steepest = min(slopes, key=slopes.get)
    return float(f"{min(kept[steepest], kept[lowest] / 10):.3g}")


def plot_lr_find(result: dict[str, Any], path: Path) -> None:
    """Loss against learning rate on a log axis, with the suggestion marked, saved as a PNG."""
    from lamina.report.figures import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(6, 4))
    ax.plot(result["rates"], result["losses"])
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    if result["suggested_lr"]:
        ax.axvline(result["suggested_lr"], color="tab:red", linestyle="--", label=f"suggested {result['suggested_lr']:.2g}")
        ax.legend()
    ax.set_title("learning-rate range test")
    save_figure(fig, path)
