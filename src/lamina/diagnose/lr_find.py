"""Learning-rate range test (Leslie Smith; fastai's ``lr_find``).

Train a fresh copy of the model for a few hundred steps while the learning rate
grows exponentially from ``start`` to ``end``; record the smoothed loss; stop
once it exceeds four times its minimum. The suggestion is the rate where the
smoothed loss falls fastest (steepest negative slope on the log-lr axis),
capped at a tenth of the rate with the lowest loss.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from lamina.config import RunSpec
from lamina.data.batches import make_batches
from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError
from lamina.files import write_json
from lamina.nn.build import build_model
from lamina.train.losses import loss_for
from lamina.train.loop import resolve_device
from lamina.train.optim import make_optimizer


def lr_find(spec: RunSpec, start: float = 1e-7, end: float = 10.0, steps: int = 100, smooth: float = 0.9,
            out: str | Path | None = None) -> dict[str, Any]:
    """Run the range test for the run ``spec`` describes; returns rates, losses and the suggested rate.

    With ``out``, lr_find.json and lr_find.png (loss against rate, suggestion marked) are written there.
    """
    if not 0 < start < end:
        raise ConfigError(f"lr-find --start must be positive and below --end; got {start} and {end}")
    if steps < 10:
        raise ConfigError(f"lr-find --steps must be at least 10; got {steps}")
    torch.manual_seed(spec.seed)
    data = prepare_data(spec.data)
    device = resolve_device(spec.train.device)
    model = build_model(spec.model, data.input_shape, data.output_shape, data.vocab, data.categories).model.to(device)
    loss_fn = loss_for(spec.train, data.task)
    optimizer = make_optimizer(model.parameters(), spec.train.optimizer)
    batches = make_batches(data.train.x, data.train.y, spec.train.batch_size, True, device,
                           path=spec.data.batch_path, seed=spec.seed)
    factor = (end / start) ** (1 / (steps - 1))
    rates, losses = [], []
    avg, best = 0.0, math.inf
    model.train()
    step = 0
    while step < steps:
        for xb, yb in batches:
            lr = start * factor**step
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = loss_fn(model(xb).float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            avg = smooth * avg + (1 - smooth) * value
            smoothed = avg / (1 - smooth ** (step + 1))  # bias-corrected running mean
            step += 1
            if not math.isfinite(smoothed) or (step > 5 and smoothed > 4 * best):
                step = steps
                break
            rates.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if step >= steps:
                break
    result = {"rates": rates, "losses": losses, "suggested_lr": suggest(rates, losses),
              "min_loss_lr": rates[losses.index(min(losses))] if losses else None}
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "lr_find.json", result)
        plot_lr_find(result, folder / "lr_find.png")
    return result


def suggest(rates: list[float], losses: list[float]) -> float | None:
    """The rate of steepest descent of the smoothed loss, at most a tenth of the minimum's rate."""
    if len(losses) < 5:
        return None
    logs = [math.log10(r) for r in rates]
    slopes = [(losses[i + 1] - losses[i - 1]) / (logs[i + 1] - logs[i - 1]) for i in range(1, len(losses) - 1)]
    lowest = losses.index(min(losses))
    window = slopes[: max(1, lowest - 1)]
    steepest = rates[1 + window.index(min(window))]
    return float(f"{min(steepest, rates[lowest] / 10) if lowest else steepest:.3g}")


def plot_lr_find(result: dict[str, Any], path: Path) -> None:
    """Loss against learning rate on a log axis, with the suggestion marked, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lamina.files import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result["rates"], result["losses"])
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    if result["suggested_lr"]:
        ax.axvline(result["suggested_lr"], color="tab:red", linestyle="--", label=f"suggested {result['suggested_lr']:.2g}")
        ax.legend()
    ax.set_title("learning-rate range test")
    fig.tight_layout()
    atomic_write_bytes(path, figure_png(fig))
    plt.close(fig)


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (so the file can be written atomically)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
