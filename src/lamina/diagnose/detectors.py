"""Detectors: each reads a run's epoch logs and monitor samples and, when it sees its
problem, returns a :class:`Finding` with the evidence and a named remedy.

Thresholds are module constants, chosen so that a healthy small run (the demo
CNN, an MLP on iris) stays silent while a run built to have the problem fires.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

from lamina.registry import Registry

DETECTORS: Registry[Callable[[dict[str, Any], list[dict[str, Any]]], "Finding | None"]] = Registry("detector")

VANISHING_RATIO = 1e-3      # first-layer / last-layer gradient norm
EXPLODING_GROWTH = 1e3      # total gradient norm, late samples over the first ones
OVERFIT_RISE = 0.10         # val loss at the end above its minimum, relative
OVERFIT_GAP = 0.25          # val loss minus train loss at the end, relative to val loss
UNDERFIT_SHARE = 0.8        # final train loss over the input-blind baseline
UNDERFIT_BEHIND = 0.15      # best val accuracy this far below the linear reference's
UNDERFIT_MSE_RATIO = 2.0    # best val loss (MSE, scaled targets) this many times the linear reference's
LR_HIGH_RATIO = 0.1         # median update-to-weight ratio
LR_LOW_RATIO = 1e-5
LR_LOW_PROGRESS = 0.02      # relative fall of the train loss
DEAD_SHARE = 0.5            # fraction of units silent on whole batches
SATURATED_SHARE = 0.5       # fraction of sigmoid/tanh outputs within 0.01 of a bound
IMBALANCE_RATIO = 5.0       # largest class over smallest


@dataclass
class Finding:
    """One detected problem: what, how sure we are (evidence), and what to do about it."""

    name: str
    message: str
    evidence: dict[str, Any]
    remedy: str
    changes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain data for diagnosis.json."""
        return asdict(self)


def detector(name: str) -> Callable:
    """Register a detector under ``name``."""
    return DETECTORS.register(name)


def detect(monitor: dict[str, Any], history: list[dict[str, Any]]) -> list[Finding]:
    """Run every detector on a run's monitor record and epoch logs; the findings that fired."""
    found = []
    for entry in DETECTORS:
        finding = entry.obj(monitor, history)
        if finding is not None:
            found.append(finding)
    return found


def _late(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last third of the samples (at least one): the network as training left it."""
    return samples[-max(1, len(samples) // 3):]


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _total_grad(sample: dict[str, Any]) -> float:
    return math.sqrt(sum(g * g for g in sample["grad_norm"].values()))


@detector("vanishing_gradients")
def vanishing_gradients(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """The first layer's gradients are orders of magnitude smaller than the last layer's."""
    layers, samples = monitor.get("layers", []), monitor.get("samples", [])
    if len(layers) < 3 or not samples:
        return None
    first, last = layers[0], layers[-1]
    ratios = _finite([s["grad_norm"][first] / max(s["grad_norm"][last], 1e-30) for s in samples])
    if not ratios or median(ratios) >= VANISHING_RATIO:
        return None
    ratio = median(ratios)
    return Finding(
        "vanishing_gradients",
        f"gradients vanish on the way back: layer {first} gets {ratio:.1e} of the gradient norm of {last}",
        {"first_layer": first, "last_layer": last, "median_ratio": ratio, "threshold": VANISHING_RATIO,
         "depth": len(layers)},
        "use ReLU activations, batch normalization and He initialization (residual connections for deep stacks)",
        {"activation": "relu", "batchnorm": True, "init": "he"},
    )


@detector("exploding_gradients")
def exploding_gradients(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """The loss or gradients became non-finite, or the gradient norm grew by orders of magnitude."""
    samples = monitor.get("samples", [])
    if not samples and not monitor.get("diverged"):
        return None
    totals = [_total_grad(s) for s in samples]
    losses = [s["loss"] for s in samples] + [h.get("train_loss", 0.0) for h in history]
    bad = next((s for s, t in zip(samples, totals) if not math.isfinite(t) or not math.isfinite(s["loss"])), None)
    start = median(totals[: max(1, len(totals) // 10)]) if totals else math.nan
    peak = max(_finite(totals), default=0.0)
    growth = peak / max(start, 1e-30)
    stopped = monitor.get("diverged")  # the loop's own finiteness check, on a step the monitor did not sample
    if bad is None and not stopped and all(math.isfinite(v) for v in losses) and growth < EXPLODING_GROWTH:
        return None
    evidence: dict[str, Any] = {"first_grad_norm": start, "peak_grad_norm": peak, "growth": growth,
                                "threshold": EXPLODING_GROWTH}
    if stopped:
        evidence["stopped"] = stopped
        message = stopped
    elif bad is not None:
        evidence.update(nonfinite_step=bad["step"], nonfinite_loss=str(bad["loss"]))
        message = f"training diverged: the loss became {bad['loss']} at step {bad['step']}"
    else:
        message = f"gradients exploded: the total gradient norm grew {growth:.0f}x (to {peak:.3g})"
    return Finding("exploding_gradients", message, evidence,
                   "clip gradients (train.clip_norm) and lower the learning rate",
                   {"clip_norm": 1.0, "lr_factor": 0.1})


@detector("overfitting")
def overfitting(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """Validation loss rises from its minimum while training loss keeps falling; the gap is wide.

    A run that early stopping ended on val_loss and that restored its best
    weights has this finding's remedy in place: the model it keeps is the one
    from before the rise, so it is not flagged.
    """
    logs = [h for h in history if "val_loss" in h and math.isfinite(h["val_loss"])]
    if len(logs) < 5 or ("val_loss" in monitor.get("stop_reason", "") and monitor.get("restore_best")):
        return None
    best = min(range(len(logs)), key=lambda i: logs[i]["val_loss"])
    low, end = logs[best]["val_loss"], logs[-1]
    rise = (end["val_loss"] - low) / max(abs(low), 1e-12)
    gap = (end["val_loss"] - end["train_loss"]) / max(abs(end["val_loss"]), 1e-12)
    train_fell = end["train_loss"] < logs[best]["train_loss"]
    if rise < OVERFIT_RISE or gap < OVERFIT_GAP or not train_fell:
        return None
    return Finding(
        "overfitting",
        f"overfitting: validation loss rose {rise:.0%} from its minimum at epoch {logs[best]['epoch']} "
        f"while training loss fell to {end['train_loss']:.3g} (generalization gap {end['val_loss'] - end['train_loss']:.3g})",
        {"best_epoch": logs[best]["epoch"], "min_val_loss": low, "final_val_loss": end["val_loss"],
         "final_train_loss": end["train_loss"], "rise": rise, "gap": gap},
        "add dropout and weight decay, and stop early on val_loss (augmentation helps too, for images)",
        {"dropout": 0.3, "weight_decay": 0.05, "early_stopping": 10},
    )


@detector("underfitting")
def underfitting(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """The training loss stays close to an input-blind model's, or the run ends far below a linear model's score.

    The linear reference (``diagnose/reference.py``) is fitted on the same
    split; it counts only when the run also fits its training data no better
    than its validation data (no generalization gap), which tells too little
    capacity or training apart from overfitting.
    """
    if not history:
        return None
    return _below_reference(monitor, history) or _below_baseline(monitor, history)


_UNDERFIT_REMEDY = ("give the model more capacity (wider or deeper layers) and train for more epochs",
                    {"capacity": 4, "epochs_factor": 2})


def _below_baseline(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    base = monitor.get("baseline_loss")
    if not base:
        return None
    final = min(h["train_loss"] for h in history)
    share = final / base
    if not math.isfinite(final) or share < UNDERFIT_SHARE:
        return None
    return Finding(
        "underfitting",
        f"underfitting: the best training loss {final:.3g} is {share:.0%} of the input-blind baseline {base:.3g}",
        {"best_train_loss": final, "baseline_loss": base, "share": share, "threshold": UNDERFIT_SHARE},
        *_UNDERFIT_REMEDY,
    )


def _below_reference(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    ref = monitor.get("reference")
    if not ref:
        return None
    metric, target = ref["metric"], ref["value"]
    logs = [h for h in history if math.isfinite(h.get(metric, math.nan))]
    if not logs:
        return None
    end = logs[-1]
    if end["val_loss"] - end["train_loss"] >= OVERFIT_GAP * abs(end["val_loss"]):
        return None  # the run fits its training rows much better than new ones: not underfitting
    if metric == "val_accuracy":
        best = max(h[metric] for h in logs)
        if best > target - UNDERFIT_BEHIND:
            return None
        message = (f"underfitting: the best validation accuracy {best:.1%} is {target - best:.1%} below a "
                   f"{ref['model']} fitted on the same split ({target:.1%})")
        threshold = UNDERFIT_BEHIND
    else:
        best = min(h[metric] for h in logs)
        if best < target * UNDERFIT_MSE_RATIO:
            return None
        message = (f"underfitting: the best validation loss (MSE) {best:.3g} is {best / max(target, 1e-12):.1f}x that of a "
                   f"{ref['model']} fitted on the same split ({target:.3g})")
        threshold = UNDERFIT_MSE_RATIO
    return Finding("underfitting", message,
                   {f"best_{metric}": best, "reference": ref, "threshold": threshold,
                    "final_train_loss": end["train_loss"], "final_val_loss": end["val_loss"]},
                   *_UNDERFIT_REMEDY)


@detector("lr_too_high")
def lr_too_high(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """Each step moves the weights by a large share of their size, and the loss does not fall."""
    samples = [s for s in monitor.get("samples", []) if s.get("update_ratio")]
    if len(samples) < 3 or len(history) < 2:
        return None
    ratio = median(max(s["update_ratio"].values()) for s in samples)
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    if ratio < LR_HIGH_RATIO or not (math.isfinite(last) and last >= first * 0.9):
        return None
    return Finding(
        "lr_too_high",
        f"the learning rate looks too high: steps move weights by {ratio:.2f} of their norm and the loss went "
        f"from {first:.3g} to {last:.3g}",
        {"median_update_ratio": ratio, "first_train_loss": first, "last_train_loss": last, "lr": monitor.get("lr")},
        "lower the learning rate (lamina lr-find CONFIG suggests one)",
        {"lr_factor": 0.1},
    )


@detector("lr_too_low")
def lr_too_low(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """Steps barely move the weights and the training loss hardly falls."""
    samples = [s for s in monitor.get("samples", []) if s.get("update_ratio")]
    if len(samples) < 3 or len(history) < 2:
        return None
    ratio = median(max(s["update_ratio"].values()) for s in samples)
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    progress = (first - last) / max(abs(first), 1e-12)
    if ratio > LR_LOW_RATIO or progress > LR_LOW_PROGRESS:
        return None
    return Finding(
        "lr_too_low",
        f"the learning rate looks too low: steps move weights by {ratio:.1e} of their norm and the loss fell {progress:.1%}",
        {"median_update_ratio": ratio, "progress": progress, "lr": monitor.get("lr")},
        "raise the learning rate (lamina lr-find CONFIG suggests one)",
        {"lr_factor": 10.0},
    )


def _activation_share(monitor: dict[str, Any], kinds: tuple[str, ...]) -> tuple[str, float] | None:
    names = [n for n, kind in monitor.get("activations", {}).items() if kind in kinds]
    late = _late(monitor.get("samples", []))
    worst = None
    for name in names:
        values = [s["activations"][name]["fraction"] for s in late if name in s.get("activations", {})]
        if values and (worst is None or median(values) > worst[1]):
            worst = (name, median(values))
    return worst


@detector("dead_relus")
def dead_relus(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """Most units of a ReLU layer output zero for every sample of a batch."""
    worst = _activation_share(monitor, ("ReLU", "ReLU6"))
    if worst is None or worst[1] < DEAD_SHARE:
        return None
    return Finding("dead_relus", f"dead ReLUs: {worst[1]:.0%} of the units of layer {worst[0]} never fire",
                   {"layer": worst[0], "dead_fraction": worst[1], "threshold": DEAD_SHARE},
                   "use leaky_relu and a lower learning rate", {"activation": "leaky_relu", "lr_factor": 0.3})


@detector("saturated_units")
def saturated_units(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """Most outputs of a sigmoid or tanh layer sit at its bounds, where the gradient is near zero."""
    worst = _activation_share(monitor, ("Sigmoid", "Tanh"))
    if worst is None or worst[1] < SATURATED_SHARE:
        return None
    return Finding("saturated_units", f"saturated units: {worst[1]:.0%} of the outputs of layer {worst[0]} sit at a bound",
                   {"layer": worst[0], "saturated_fraction": worst[1], "threshold": SATURATED_SHARE},
                   "use ReLU activations with batch normalization", {"activation": "relu", "batchnorm": True})


@detector("class_imbalance")
def class_imbalance(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """The largest class of the training split outnumbers the smallest many times over."""
    counts = monitor.get("class_counts") or []
    if len(counts) < 2:
        return None
    ratio = max(counts) / max(min(counts), 1)
    if ratio < IMBALANCE_RATIO:
        return None
    return Finding("class_imbalance", f"class imbalance: the largest class has {ratio:.1f}x the samples of the smallest",
                   {"class_counts": counts, "ratio": ratio, "threshold": IMBALANCE_RATIO},
                   "weight the loss by inverse class frequency (train.class_weight: balanced) or draw the classes "
                   "equally often (data.sampler: balanced); judge the run by balanced metrics (balanced_accuracy, f1)",
                   {"class_weight": "balanced"})


@detector("forecast_beaten_by_baseline")
def forecast_beaten_by_baseline(monitor: dict[str, Any], history: list[dict[str, Any]]) -> Finding | None:
    """The forecaster's test error is no better than the best naive baseline's (persistence or seasonal-naive)."""
    errors = monitor.get("forecast") or {}
    baselines = {k.removesuffix("_mae"): v for k, v in errors.items() if k.endswith("_mae") and k != "model_mae"}
    if "model_mae" not in errors or not baselines:
        return None
    best = min(baselines, key=baselines.get)
    if errors["model_mae"] < baselines[best]:
        return None
    return Finding("forecast_beaten_by_baseline",
                   f"the forecaster does not beat the {best.replace('_', '-')} baseline: test MAE "
                   f"{errors['model_mae']:.4g} vs {baselines[best]:.4g} (in the series' units)",
                   {"model_mae": errors["model_mae"], f"{best}_mae": baselines[best]},
                   "use the baseline, or try model.arch: linear_forecaster (autoregressive, ridge-style) "
                   "and a longer window; check data.series.season")
