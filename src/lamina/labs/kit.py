"""What every lab shares: its settings, its outcome, and small helpers for run configs, CSVs and curves."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.files import atomic_write_text
from lamina.report import figures


@dataclass(frozen=True)
class LabSettings:
    """How one lab runs: ``quick`` (under a minute on 2 cores) or full, where its files go, its seed, and how loud."""

    out: Path
    quick: bool = True
    seed: int = 0
    progress: str = "plain"

    def log(self, message: str) -> None:
        """Print one progress line unless progress is off (labs are long enough that silence looks like a hang)."""
        if self.progress != "none":
            print(f"  {message}", flush=True)

    def figure_path(self, name: str) -> Path:
        """Where a figure called ``name`` (without suffix) goes: a PNG inside this lab's folder."""
        self.out.mkdir(parents=True, exist_ok=True)
        return self.out / f"{name}.png"

    def runs_dir(self) -> str:
        """A folder for the run folders a lab trains, kept beside its figures so they can be inspected afterwards."""
        return str(self.out / "runs")


@dataclass
class LabOutcome:
    """What a lab measured: a small table, its figures, the headline numbers and the verdict with its margin.

    ``margin`` is one sentence with the measured numbers and the threshold the
    claim needed, e.g. "sigmoid's first-layer gradient is 3.1e-6 of its last
    (needed < 1e-3); ReLU+BatchNorm keeps 0.42".
    """

    table: list[dict[str, Any]]
    figures: list[Path]
    confirmed: bool
    margin: str
    numbers: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``CONFIRMED`` or ``NOT CONFIRMED``, the word the lab's last line starts with."""
        return "CONFIRMED" if self.confirmed else "NOT CONFIRMED"


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    """Write a table a lab generated as a CSV (atomically), so its runs read it through the ordinary data path."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return path


def run_spec(settings: LabSettings, name: str, data: dict[str, Any], model: dict[str, Any],
             train: dict[str, Any]) -> dict[str, Any]:
    """A run config for one model a lab trains: its runs go beside the lab's figures, with the lab's seed.

    ``train`` holds what the comparison varies (epochs, optimizer, ...); batches of 32, no TensorBoard
    logs, no diagnosis and no early stopping are the defaults, so every model gets the same budget.
    """
    return {"name": name, "runs_dir": settings.runs_dir(), "seed": settings.seed, "data": data, "model": model,
            "train": {"batch_size": 32, "tensorboard": False, "diagnose": False, "early_stopping": None, **train}}


def plot_curves(path: Path, x: list[float], curves: dict[str, list[float]], xlabel: str, ylabel: str, title: str,
                chance: float | None = None) -> Path:
    """Save one line per model of a score in [0, 1] against ``x``, with a dotted chance level when given."""
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in curves.items():
        ax.plot(x, values, marker="o", label=name)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", label="chance")
    ax.set_xticks(x)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend()
    return figures.save_figure(fig, path)
