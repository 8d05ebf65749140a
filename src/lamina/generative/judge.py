"""Judging generated samples with a classifier trained on real data: class coverage and histogram entropy.

A GAN that collapses onto a few modes still makes sharp samples, so sample
quality alone hides it; a classifier's predicted-class histogram over many
samples shows it. Coverage counts the classes that get at least ``min_share``
of the samples; the entropy (nats) of the histogram is log(classes) when the
classes are equally frequent and 0 when one class takes everything.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from lamina.config import ModelSpec, TrainSpec
from lamina.data.prepare import Prepared
from lamina.errors import ConfigError
from lamina.nn.build import build_model
from lamina.nn.outputs import model_outputs
from lamina.train.callbacks import Callback
from lamina.train.loop import fit


@dataclass
class Coverage:
    """Which classes a batch of samples falls into, per the judge."""

    histogram: list[float]
    covered: int
    entropy: float
    classes: list[str]

    @property
    def max_entropy(self) -> float:
        """log(classes): the entropy of a uniform histogram."""
        return math.log(len(self.classes))

    def to_json(self) -> dict[str, Any]:
        """Plain data for summary.json."""
        return {"covered": self.covered, "classes": len(self.classes), "entropy": round(self.entropy, 4),
                "max_entropy": round(self.max_entropy, 4),
                "histogram": {c: round(h, 4) for c, h in zip(self.classes, self.histogram)}}


def train_judge(model: ModelSpec, data: Prepared, epochs: int, batch_size: int, device: torch.device,
                seed: int = 0) -> tuple[torch.nn.Module, float]:
    """Train the model section's classifier on the real training split; returns it and its test accuracy."""
    if data.task != "multiclass":
        raise ConfigError(f"the judge (the model section of a generative run) needs a multiclass dataset; got {data.task}")
    torch.manual_seed(seed)
    built = build_model(model, data.input_shape, data.n_outputs)
    spec = TrainSpec(epochs=epochs, batch_size=batch_size, optimizer={"lr": 3e-3}, tensorboard=False, device=device.type)
    fit(built.model, data, spec, [], device, seed=seed)
    split = data.test if len(data.test) else data.val
    accuracy = float((model_outputs(built.model, split.x, 256, device).argmax(1) == split.y).float().mean())
    return built.model.eval(), accuracy


def coverage(judge: torch.nn.Module, samples: torch.Tensor, classes: list[str], min_share: float) -> Coverage:
    """The judge's predicted-class histogram over ``samples``, the classes covered and its entropy."""
    device = next(judge.parameters()).device
    predicted = model_outputs(judge, samples, 256, device).argmax(1)
    counts = torch.bincount(predicted, minlength=len(classes)).double()
    share = counts / counts.sum()
    nonzero = share[share > 0]
    entropy = float(-(nonzero * nonzero.log()).sum()) + 0.0  # + 0.0 turns -0.0 (one class) into 0.0
    return Coverage(share.tolist(), int((share >= min_share).sum()), entropy, list(classes))


@dataclass
class CoverageMonitor(Callback):
    """Measures coverage every ``every`` epochs during training and warns when it drops below its best so far."""

    sample: Callable[[int], torch.Tensor]
    judge: torch.nn.Module
    classes: list[str]
    n: int = 500
    min_share: float = 0.025
    every: int = 5
    stream: Any = None
    progress: str = "plain"
    record: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def on_epoch_end(self, state: Any) -> None:
        epoch = state.logs["epoch"]
        if epoch % self.every and epoch != state.epochs:
            return
        found = coverage(self.judge, self.sample(self.n), self.classes, self.min_share)
        state.logs["coverage"], state.logs["class_entropy"] = found.covered, round(found.entropy, 4)
        best = max((r["covered"] for r in self.record), default=0)
        self.record.append({"epoch": epoch, "covered": found.covered, "entropy": found.entropy})
        if found.covered < best:
            message = (f"epoch {epoch}: class coverage dropped to {found.covered}/{len(self.classes)} "
                       f"(best so far {best}; entropy {found.entropy:.3f} of {found.max_entropy:.3f}): "
                       "the model may be collapsing onto a few modes")
            self.warnings.append(message)
            if self.progress != "none":
                print(f"warning: {message}", file=self.stream or sys.stderr, flush=True)
