"""The forgetting figure: each task's test accuracy as the sequence goes on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lamina.report.figures import pyplot, save_figure

if TYPE_CHECKING:
    from lamina.continual.sequence import ContinualResult


def save_task_curves(path: Path, result: ContinualResult) -> None:
    """Save a PNG: one line per task, its accuracy after each training stage (from the stage it was learned)."""
    plt = pyplot()
    stages = list(range(1, len(result.matrix) + 1))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for j, name in enumerate(result.tasks):
        ax.plot(stages[j:], [row[j] for row in result.matrix[j:]], marker="o", label=name)
    ax.set_xticks(stages)
    ax.set_xlabel("after training task")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{result.strategy} on {result.scenario}: average {result.average_accuracy:.1%}, "
                 f"backward transfer {result.backward_transfer:+.1%}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    save_figure(fig, path)
