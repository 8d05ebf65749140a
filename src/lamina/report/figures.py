"""The report's figures, drawn with matplotlib (Agg backend) and written atomically as PNGs."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from lamina.files import atomic_write_bytes


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` as a PNG (atomically) and close it: the one figure writer of every feature."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())
    pyplot().close(fig)
    return path


def learning_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """Training and validation loss per epoch, and every other validation metric on a second panel."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    others = [k for k in (history[0] if history else {}) if k.startswith("val_") and k != "val_loss"]
    fig, axes = plt.subplots(1, 2 if others else 1, figsize=(10 if others else 5.5, 4), squeeze=False)
    ax = axes[0][0]
    for key in ("train_loss", "val_loss"):
        if history and key in history[0]:
            ax.plot(epochs, [h[key] for h in history], label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax.legend()
    if others:
        ax = axes[0][1]
        for key in others:
            ax.plot(epochs, [h[key] for h in history], label=key)
        ax.set_xlabel("epoch")
        ax.set_title("validation metrics")
        ax.legend()
    return save_figure(fig, path)


def confusion_matrix(matrix: list[list[int]], classes: list[str], path: Path) -> Path:
    """The test confusion matrix as a heat map with counts (rows: true class, columns: predicted)."""
    plt = pyplot()
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * n, 0.8 + 0.5 * n))
    ax.imshow(matrix, cmap="Blues")
    top = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                    color="white" if value > top / 2 else "black")
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=45 if n > 6 else 0)
    ax.set_yticks(range(n), [str(c) for c in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (test)")
    return save_figure(fig, path)


def gradient_flow(monitor: dict[str, Any], path: Path) -> Path:
    """Per-layer gradient norms over training steps (log scale): vanishing and exploding show at a glance."""
    plt = pyplot()
    samples = monitor.get("samples", [])
    layers = monitor.get("layers", [])
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [s["step"] for s in samples]
    cmap = plt.get_cmap("viridis")
    for i, name in enumerate(layers):
        values = [s["grad_norm"].get(name, math.nan) for s in samples]
        ax.plot(steps, [v if v > 0 else math.nan for v in values], color=cmap(i / max(1, len(layers) - 1)),
                label=name if len(layers) <= 8 else None)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient norm")
    ax.set_title("gradient flow (input layer dark, output layer light)")
    if 0 < len(layers) <= 8:
        ax.legend(fontsize=7)
    late = samples[-max(1, len(samples) // 3):]
    means = [sum(s["grad_norm"].get(n, 0.0) for s in late) / max(1, len(late)) for n in layers]
    bars.bar(range(len(layers)), [m if m > 0 else math.nan for m in means])
    bars.set_yscale("log")
    bars.set_xticks(range(len(layers)), layers, rotation=90, fontsize=7)
    bars.set_title("mean gradient norm per layer (last third of training)")
    return save_figure(fig, path)
