"""The activation figure of a run's report: how each activation layer's outputs moved over training.

The monitor (``diagnose/monitor.py``) samples, per ReLU-family or sigmoid/tanh
layer, the outputs' mean and standard deviation and the fraction of dead units
(ReLU family: silent on the whole batch) or saturated outputs (sigmoid/tanh:
within 0.01 of a bound). The left panel draws each layer's mean with a band of
one standard deviation over the sampled steps; the right one its dead or
saturated fraction, so a layer that dies or saturates shows as a rising line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamina.report.figures import pyplot, save_figure

SQUASHING = ("Sigmoid", "Tanh")


def activation_series(monitor: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per activation layer: its kind and, per sampled step, the outputs' mean, std and dead/saturated fraction."""
    series: dict[str, dict[str, Any]] = {}
    for name, kind in monitor.get("activations", {}).items():
        rows = [(s["step"], s["activations"][name]) for s in monitor.get("samples", [])
                if name in s.get("activations", {})]
        if rows:
            series[name] = {"kind": kind, "steps": [step for step, _ in rows],
                            "mean": [a["mean"] for _, a in rows], "std": [a["std"] for _, a in rows],
                            "fraction": [a["fraction"] for _, a in rows]}
    return series


def activation_figure(monitor: dict[str, Any], path: Path) -> Path | None:
    """Draw the activation figure to ``path``; None (nothing drawn) when the run has no watched activation layer."""
    series = activation_series(monitor)
    if not series:
        return None
    plt = pyplot()
    fig, (spread, share) = plt.subplots(1, 2, figsize=(11, 4))
    cmap = plt.get_cmap("viridis")
    for i, (name, s) in enumerate(series.items()):
        color = cmap(i / max(1, len(series) - 1))
        label = f"{name} ({s['kind']})" if len(series) <= 8 else None
        low = [m - d for m, d in zip(s["mean"], s["std"])]
        high = [m + d for m, d in zip(s["mean"], s["std"])]
        spread.plot(s["steps"], s["mean"], color=color, label=label)
        spread.fill_between(s["steps"], low, high, color=color, alpha=0.15)
        share.plot(s["steps"], s["fraction"], color=color, label=label,
                   linestyle="--" if s["kind"] in SQUASHING else "-")
    spread.set_xlabel("step")
    spread.set_ylabel("activation")
    spread.set_title("activation mean ± 1 std per layer (input layer dark)")
    share.set_xlabel("step")
    share.set_ylim(-0.02, 1.02)
    share.set_ylabel("fraction of units")
    share.set_title("dead ReLU units (solid), saturated sigmoid/tanh outputs (dashed)")
    if len(series) <= 8:
        share.legend(fontsize=7)
    return save_figure(fig, path)
