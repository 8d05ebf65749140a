"""Train one model on a task sequence and measure forgetting.

For each task in turn: ``strategy.before_task`` -> the ordinary training loop
on that task (the train section's settings; the strategy joins as a callback)
-> ``strategy.after_task`` -> accuracy on every task's test split. The result
is the accuracy matrix ``R[i][j]`` (after training task i, on task j), the
final average accuracy ``mean_j R[T-1][j]`` and backward transfer
``mean_{j<T-1} (R[T-1][j] - R[j][j])`` (negative: forgetting).

The run folder holds config.yaml, preprocess.json, the final model.safetensors
(so load_run works on it), continual.json and figures/continual-<strategy>.png.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lamina.config import ContinualSpec, RunSpec, save_config, validate_section
from lamina.continual.health import logit_gap, task_warnings
from lamina.continual.strategies import make_strategy
from lamina.continual.tasks import Task, make_tasks
from lamina.data.prepare import prepare_data
from lamina.device import resolve_device
from lamina.files import save_tensors, write_json
from lamina.nn.build import build_model
from lamina.nn.outputs import model_outputs
from lamina.runs import PREDICT_BATCH, RunFolder
from lamina.train.callbacks import Callback, Progress
from lamina.train.loop import fit
from lamina.trainer import as_spec, seed_everything


@dataclass
class ContinualResult:
    """Accuracy matrix and summary of one strategy on one task sequence."""

    strategy: str
    scenario: str
    tasks: list[str]
    matrix: list[list[float]]
    folder: Path
    warnings: list[str] = field(default_factory=list)

    @property
    def average_accuracy(self) -> float:
        """Mean accuracy over all tasks after the last one was learned."""
        return average_accuracy(self.matrix)

    @property
    def backward_transfer(self) -> float:
        """How training later tasks changed earlier tasks' accuracy (negative: forgetting)."""
        return backward_transfer(self.matrix)

    def to_json(self) -> dict[str, Any]:
        """Plain data for continual.json."""
        return {"strategy": self.strategy, "scenario": self.scenario, "tasks": self.tasks,
                "accuracy_matrix": self.matrix, "average_accuracy": self.average_accuracy,
                "backward_transfer": self.backward_transfer, "warnings": self.warnings, "folder": str(self.folder)}


def average_accuracy(matrix: list[list[float]]) -> float:
    """Mean of the last row of the accuracy matrix."""
    last = matrix[-1]
    return sum(last) / len(last)


def backward_transfer(matrix: list[list[float]]) -> float:
    """Mean over all but the last task j of R[T-1][j] - R[j][j] (0.0 for a single task)."""
    t = len(matrix)
    if t < 2:
        return 0.0
    return sum(matrix[-1][j] - matrix[j][j] for j in range(t - 1)) / (t - 1)


def task_accuracy(model: torch.nn.Module, task: Task, device: torch.device) -> float:
    """Accuracy on the task's test split, predicting over every output (one shared head)."""
    if len(task.test) == 0:
        return 0.0
    outputs = model_outputs(model, task.test.x, PREDICT_BATCH, device)
    if outputs.shape[1] == 1:
        preds = (outputs[:, 0] > 0).long()
    else:
        preds = outputs.argmax(dim=1)
    return float((preds == task.test.y.reshape(-1).long()).float().mean())


def run_continual(config: RunSpec | dict[str, Any] | str | Path, strategy: str | None = None,
                  progress: str = "auto", **overrides: Any) -> ContinualResult:
    """Learn the config's task sequence with a strategy; return the accuracy matrix and its summaries.

    ``strategy`` (naive | ewc | replay | lwf) and keyword ``overrides`` (fields of the continual
    section, e.g. ``ewc_lambda=500``) replace the config's ``continual`` settings.
    """
    spec = as_spec(config)
    settings = (spec.continual or ContinualSpec()).model_dump()
    settings.update(overrides)
    if strategy is not None:
        settings["strategy"] = strategy
    spec.continual = validate_section(ContinualSpec, settings, "continual")
    cont = spec.continual
    seed_everything(spec.seed)
    data = prepare_data(spec.data)
    tasks = make_tasks(data, cont.scenario, cont.tasks, spec.seed)
    built = build_model(spec.model, data.input_shape, data.n_outputs, data.vocab, data.categories)
    device = resolve_device(spec.train.device)
    folder = RunFolder.create(spec.runs_dir, spec.name)
    save_config(spec, folder.config)
    write_json(folder.preprocess, data.preprocessor.to_json())

    chosen = make_strategy(cont, spec.seed)
    say = _printer(progress)
    matrix: list[list[float]] = []
    warnings: list[str] = []
    started = time.perf_counter()
    for index, task in enumerate(tasks):
        chosen.before_task(built.model, task, index)
        gap = logit_gap(built.model, task, data.n_outputs, device)
        callbacks: list[Callback] = [chosen]
        if progress in ("bar", "auto"):
            callbacks.insert(0, Progress("auto" if progress == "auto" else "bar"))
        state = fit(built.model, task.prepared(data), spec.train, callbacks, device, seed=spec.seed + index,
            batch_path=spec.data.batch_path, workers=spec.data.loader_workers)
        chosen.after_task(built.model, task, index, device)
        matrix.append([task_accuracy(built.model, other, device) for other in tasks])
        say(f"after {task.name}: " + "  ".join(f"{a:.3f}" for a in matrix[-1]))
        found = task_warnings(built.model, task, matrix[-1][index], state.history, gap, spec.train.optimizer.lr,
                              device)
        for line in found:
            say(f"warning: {line}")
        warnings += found
    result = ContinualResult(cont.strategy, cont.scenario, [t.name for t in tasks], matrix, folder.root, warnings)

    save_tensors(folder.weights, built.model.state_dict())
    report = result.to_json() | {"seconds": round(time.perf_counter() - started, 3), "settings": cont.model_dump()}
    from lamina.continual.plot import save_task_curves

    figure = folder.root / "figures" / f"continual-{cont.strategy}.png"
    save_task_curves(figure, result)
    report["figure"] = str(figure)
    write_json(folder.root / "continual.json", report)
    return result


def _printer(progress: str):
    """Per-task lines on stderr unless progress is 'none'."""
    import sys

    if progress == "none":
        return lambda text: None
    return lambda text: print(text, file=sys.stderr, flush=True)
