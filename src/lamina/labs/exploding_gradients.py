"""Lab 2: a learning rate too large makes gradients explode, and clipping or normalization tames the same rate.

Each step's update feeds the next step's gradient: when the rate is large
enough the weights grow, the gradients grow with them, and within a few steps
the loss is infinite (lamina stops such a run with ``TrainingDiverged``).
Clipping the gradient's global norm bounds every step; BatchNorm keeps each
layer's activations at unit scale, so growing weights no longer grow the
signal. The lab trains the same deep ReLU MLP on digits with plain SGD at a
safe rate and at a large one, then at the large rate with clipping and with
BatchNorm, recording every step's loss and gradient norm (before clipping).
"""

from __future__ import annotations

import math
from typing import Any

import torch

import lamina
from lamina.labs.kit import LabOutcome, LabSettings
from lamina.report.figures import pyplot, save_figure

ORDER = 2
TITLE = "Exploding gradients"
CLAIM = ("At a large learning rate a deep MLP's gradients explode and training diverges; clipping the gradient norm "
         "or normalizing activations keeps the same rate stable and accurate.")

DEPTH = 8
WIDTH = 64
SAFE_LR = 0.1
LARGE_LR = 2.0
CLIP_NORM = 0.5
QUICK_EPOCHS = 10
WITHIN = 0.1  # a tamed run ends within this much test accuracy of the safe rate


class StepRecorder(lamina.Callback):
    """Every optimizer step's loss and global gradient norm (measured before any clipping)."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.grad_norms: list[float] = []

    def on_after_backward(self, state: Any) -> None:
        """Record the gradient norm the optimizer is about to see (clipping comes after this event)."""
        grads = [p.grad for p in state.model.parameters() if p.grad is not None]
        self.grad_norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        self.losses.append(float(state.loss.detach()))


def _variants() -> dict[str, dict[str, Any]]:
    """The four runs: the model's hidden chain, the learning rate and the clipping norm of each."""
    plain = [item for _ in range(DEPTH) for item in ({"dense": WIDTH}, "relu")]
    normed = [item for _ in range(DEPTH) for item in ({"dense": WIDTH}, "batchnorm", "relu")]
    return {
        f"plain, lr {SAFE_LR}": {"chain": plain, "lr": SAFE_LR, "clip_norm": None},
        f"plain, lr {LARGE_LR}": {"chain": plain, "lr": LARGE_LR, "clip_norm": None},
        f"clip {CLIP_NORM}, lr {LARGE_LR}": {"chain": plain, "lr": LARGE_LR, "clip_norm": CLIP_NORM},
        f"batchnorm, lr {LARGE_LR}": {"chain": normed, "lr": LARGE_LR, "clip_norm": None},
    }


def _spec(settings: LabSettings, name: str, variant: dict[str, Any], epochs: int) -> dict[str, Any]:
    slug = "".join(c if c.isalnum() else "-" for c in name)
    return {
        "name": f"exploding-{slug}",
        "runs_dir": settings.runs_dir(),
        "seed": settings.seed,
        "data": {"dataset": "digits", "view": "flat", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
        "model": {"layers": variant["chain"] + [{"dense": 10}], "init": "he"},
        "train": {"epochs": epochs, "batch_size": 32, "optimizer": {"name": "sgd", "lr": variant["lr"]},
                  "clip_norm": variant["clip_norm"], "tensorboard": False, "diagnose": False,
                  "early_stopping": None},
    }


def run(settings: LabSettings) -> LabOutcome:
    """Train the four variants, catching divergence, and compare their gradient norms and test accuracy."""
    epochs = QUICK_EPOCHS if settings.quick else 30
    rows = []
    curves: dict[str, StepRecorder] = {}
    for name, variant in _variants().items():
        recorder = StepRecorder()
        curves[name] = recorder
        settings.log(f"{name}: training {epochs} epochs")
        try:
            trained = lamina.fit(_spec(settings, name, variant, epochs), progress="none", extra_callbacks=[recorder])
        except lamina.TrainingDiverged as exc:
            settings.log(f"{name}: {str(exc).split(';')[0]}")
            diverged_at = len(recorder.grad_norms) + 1  # the step whose loss or gradient was not finite
            accuracy = None
        else:
            diverged_at = None
            accuracy = lamina.evaluate_run(trained)["metrics"]["accuracy"]
        finite = [g for g in recorder.grad_norms if math.isfinite(g)]  # step 1 is always finite
        rows.append({"run": name, "diverged at step": diverged_at, "steps": len(recorder.grad_norms),
                     "max grad norm": max(finite), "median grad norm": float(torch.tensor(finite).median()),
                     "test accuracy": accuracy})

    figure = _plot(settings, curves)
    by_run = {row["run"]: row for row in rows}
    safe, large, clipped, normed = (by_run[name] for name in _variants())
    remedies = [clipped, normed]
    stable = all(row["diverged at step"] is None for row in remedies)
    remedy_accuracy = min(row["test accuracy"] or 0.0 for row in remedies)  # a diverged remedy counts as 0
    safe_accuracy = safe["test accuracy"] or 0.0
    confirmed = (large["diverged at step"] is not None and stable and remedy_accuracy > safe_accuracy - WITHIN)
    if large["diverged at step"] is not None:
        blew_up = (f"plain SGD at lr {LARGE_LR} diverged at step {large['diverged at step']} after its gradient norm "
                   f"grew to {large['max grad norm']:.3g} (needed: divergence)")
    else:
        blew_up = (f"plain SGD at lr {LARGE_LR} did not diverge (max gradient norm {large['max grad norm']:.3g}; "
                   f"needed: divergence)")
    margin = (f"{blew_up}; with clipping and with BatchNorm the same rate "
              f"{'trained to the end' if stable else 'did not always finish'} and reached at least "
              f"{remedy_accuracy * 100:.1f}% test accuracy (needed within {WITHIN * 100:.0f} points of the safe rate "
              f"{SAFE_LR}'s {safe_accuracy * 100:.1f}%)")
    numbers = {"large_lr_max_grad_norm": large["max grad norm"], "remedy_min_accuracy": remedy_accuracy,
               "safe_accuracy": safe_accuracy}
    if large["diverged at step"] is not None:
        numbers["large_lr_diverged_at_step"] = float(large["diverged at step"])
    return LabOutcome(table=rows, figures=[figure], confirmed=confirmed, margin=margin, numbers=numbers)


def _plot(settings: LabSettings, curves: dict[str, StepRecorder]) -> Any:
    plt = pyplot()
    fig, (loss_ax, grad_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, recorder in curves.items():
        steps = range(1, len(recorder.losses) + 1)
        (line,) = loss_ax.semilogy(steps, recorder.losses, label=name, linewidth=1)
        grad_ax.semilogy(steps, recorder.grad_norms, label=name, linewidth=1, color=line.get_color())
        if len(recorder.losses) < max(len(r.losses) for r in curves.values()):
            grad_ax.plot(len(recorder.grad_norms), recorder.grad_norms[-1], "x", markersize=10,
                         color=line.get_color())
    loss_ax.set_xlabel("optimizer step")
    loss_ax.set_ylabel("training loss (batch)")
    grad_ax.set_xlabel("optimizer step")
    grad_ax.set_ylabel("global gradient norm, before clipping")
    grad_ax.set_title("x: diverged (the next step's loss or gradient was not finite)", fontsize=9)
    loss_ax.set_title(f"{DEPTH}-layer ReLU MLPs on digits, plain SGD", fontsize=9)
    loss_ax.legend(fontsize=8)
    return save_figure(fig, settings.figure_path("loss_and_gradient_norm"))
