"""Train one model on a task sequence and measure forgetting.

For each task in turn: ``strategy.before_task`` -> the ordinary training loop
on that task (the train section's settings; the strategy joins as a callback)
-> ``strategy.after_task`` -> accuracy on every task's test split. The result
is the accuracy matrix ``R[i][j]`` (after training task i, on task j), the
final average accuracy ``mean_j R[T-1][j]`` and backward transfer
``mean_{j<T-1} (R[T-1][j] - R[j][j])`` (negative: forgetting).

The run folder holds config.yaml, preprocess.json, the final model.safetensors
(so load_run works on it), continual.json (``status`` running, then finished with the results) and
figures/continual-<strategy>.png,
``metrics.jsonl`` and ``losses.jsonl`` (every line led by its ``task``, from 1),
and ``checkpoints/task-<k>/`` (the loop's checkpoints of task k). The strategy
and a :class:`TaskRecord` (the accuracy rows so far) are callbacks of every
task's training, so each checkpoint holds them too: ``resume`` continues from
the newest checkpoint of the latest task that has one and ends byte-equal to an
uninterrupted run. The run folder is locked while a process trains it.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from lamina.config import ContinualSpec, RunSpec, save_config, validate_section
from lamina.continual.health import logit_gap, task_warnings
from lamina.continual.strategies import make_strategy
from lamina.continual.tasks import Task, make_tasks
from lamina.data.prepare import prepare_data
from lamina.data.prepare import Prepared
from lamina.device import resolve_device
from lamina.errors import ConfigError, RunFolderError
from lamina.files import read_json, save_tensors, write_json
from lamina.nn.build import build_model
from lamina.nn.outputs import model_outputs
from lamina.runs import PREDICT_BATCH, RunFolder
from lamina.train.callbacks import Callback, LossLog, MetricsLog, Progress, validate_state
from lamina.train.checkpoint import Checkpoint, Checkpoints, resume_point
from lamina.train.lock import run_lock
from lamina.train.loop import fit
from lamina.trainer import as_spec, seed_everything, unfinished_run


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


class RecordState(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    rows: list[list[Annotated[float, Field(ge=0, le=1)]]]
    warnings: list[str]
    gap: float | None


class TaskRecord(Callback):
    """The accuracy rows and warnings of the finished tasks and the current task's starting logit gap.

    A callback of every task's training only so that checkpoints carry it: a resumed task
    goes on with the rows of the tasks before it.
    """

    def __init__(self, tasks: int) -> None:
        self.tasks = tasks
        self.rows: list[list[float]] = []
        self.warnings: list[str] = []
        self.gap: float | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "warnings": self.warnings, "gap": self.gap}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        kept = validate_state(RecordState, saved, "TaskRecord")
        if len(kept.rows) >= self.tasks or any(len(row) != self.tasks for row in kept.rows):
            raise ValueError(f"callbacks.TaskRecord.rows must hold fewer than {self.tasks} rows of {self.tasks} "
                             f"accuracies; got {[len(row) for row in kept.rows]}")
        self.rows, self.warnings, self.gap = kept.rows, kept.warnings, kept.gap


def run_continual(config: RunSpec | dict[str, Any] | str | Path, strategy: str | None = None,
                  progress: str = "auto", resume: bool = False, extra_callbacks: list[Callback] | None = None,
                  **overrides: Any) -> ContinualResult:
    """Learn the config's task sequence with a strategy; return the accuracy matrix and its summaries.

    ``strategy`` (naive | ewc | replay | lwf) and keyword ``overrides`` (fields of the continual
    section, e.g. ``ewc_lambda=500``) replace the config's ``continual`` settings.
    With ``resume``, the newest unfinished run folder of the config's name continues from its
    newest valid checkpoint, exactly as if it had never stopped (a new run starts when there is none).
    ``extra_callbacks`` join every task's training.
    """
    spec = as_spec(config)
    settings = (spec.continual or ContinualSpec()).model_dump()
    settings.update(overrides)
    if strategy is not None:
        settings["strategy"] = strategy
    spec.continual = validate_section(ContinualSpec, settings, "continual")
    folder = unfinished_run(spec.runs_dir, spec.name) if resume else None
    if folder is not None and finished(folder.root):
        raise RunFolderError(f"{folder.root} has finished (continual.json says so); there is nothing to resume. "
                             "Run without --resume to start a new run.")
    return _learn(spec, folder, progress, extra_callbacks)


def resume_continual(run: str | Path, overrides: list[str] | None = None, progress: str = "auto") -> ContinualResult:
    """Continue the interrupted task sequence in run folder ``run`` (``lamina resume RUN`` on a continual run).

    The run's own config.yaml is used, with ``overrides`` (``key.path=value``) applied.
    """
    from lamina.config import load_config

    folder = RunFolder(run)
    if not folder.config.is_file():
        raise RunFolderError(f"{folder.root} is not a run folder: config.yaml is missing")
    if finished(folder.root):
        raise RunFolderError(f"{folder.root} has finished (continual.json says so); there is nothing to resume")
    return _learn(load_config(folder.config, overrides), folder, progress, None)


def is_continual_run(root: str | Path) -> bool:
    """Whether a run folder holds a task sequence (``lamina continual`` writes continual.json when it starts)."""
    return (Path(root) / "continual.json").is_file()


def finished(root: str | Path) -> bool:
    """Whether the task sequence in run folder ``root`` has finished (its continual.json has the results)."""
    if not is_continual_run(root):
        return False
    record = read_json(Path(root) / "continual.json")
    # one written before continual.json had a status holds the results only when it finished
    return isinstance(record, dict) and record.get("status", "finished" if "accuracy_matrix" in record else "") == "finished"


def _learn(spec: RunSpec, folder: RunFolder | None, progress: str,
           extra_callbacks: list[Callback] | None) -> ContinualResult:
    """Learn ``spec``'s task sequence into a new run folder (``folder`` None) or continue the one in ``folder``."""
    cont = spec.continual or ContinualSpec()
    resume = folder is not None
    say = _printer(progress)
    with ExitStack() as locks:
        if folder is not None:  # first: a second process is refused before it reads the data
            locks.enter_context(run_lock(folder.root))
        seed_everything(spec.seed)
        data = prepare_data(spec.data)
        tasks = make_tasks(data, cont.scenario, cont.tasks, spec.seed)
        built = build_model(spec.model, data.input_shape, data.n_outputs, data.vocab, data.categories)
        device = resolve_device(spec.train.device)
        if folder is None:
            folder = RunFolder.create(spec.runs_dir, spec.name)
            locks.enter_context(run_lock(folder.root))
        first, checkpoint = _resume_point(folder, spec, data, len(tasks), say) if resume else (0, None)
        save_config(spec, folder.config)
        write_json(folder.preprocess, data.preprocessor.to_json())
        write_json(folder.root / "continual.json", {"status": "running", "strategy": cont.strategy,
                                                    "scenario": cont.scenario, "tasks": [t.name for t in tasks]})
        chosen = make_strategy(cont, spec.seed)
        record = TaskRecord(len(tasks))
        started = time.perf_counter()
        for index in range(first, len(tasks)):
            task = tasks[index]
            chosen.before_task(built.model, task, index)
            if checkpoint is None:  # a resumed task's gap comes back with its record
                record.gap = logit_gap(built.model, task, data.n_outputs, device)
            prepared = task.prepared(data)
            tag = {"task": index + 1}
            callbacks: list[Callback] = [chosen, record, MetricsLog(folder.metrics, tag, _head(folder.metrics, index + 1)),
                                         LossLog(folder.losses, tag, _head(folder.losses, index + 1))]
            if progress in ("bar", "auto"):
                callbacks.insert(0, Progress("auto" if progress == "auto" else "bar"))
            monitor = "val_loss" if len(prepared.val) else "train_loss"
            callbacks += (extra_callbacks or []) + [Checkpoints(folder.checkpoints / f"task-{index + 1}",
                                                                spec.train.checkpoint, monitor, "min", spec.to_dict())]
            state = fit(built.model, prepared, spec.train, callbacks, device, seed=spec.seed + index,
                        batch_path=spec.data.batch_path, workers=spec.data.loader_workers, resume=checkpoint)
            checkpoint = None
            chosen.after_task(built.model, task, index, device)
            row = [task_accuracy(built.model, other, device) for other in tasks]
            say(f"after {task.name}: " + "  ".join(f"{a:.3f}" for a in row))
            found = task_warnings(built.model, task, row[index], state.history, record.gap, spec.train.optimizer.lr,
                                  device)
            for line in found:
                say(f"warning: {line}")
            record.rows.append(row)
            record.warnings += found
        result = ContinualResult(cont.strategy, cont.scenario, [t.name for t in tasks], record.rows, folder.root,
                                 record.warnings)

        save_tensors(folder.weights, built.model.state_dict())
        report = {"status": "finished"} | result.to_json() | {"seconds": round(time.perf_counter() - started, 3),
                                                              "settings": cont.model_dump()}
        from lamina.continual.plot import save_task_curves

        figure = folder.root / "figures" / f"continual-{cont.strategy}.png"
        save_task_curves(figure, result)
        report["figure"] = str(figure)
        write_json(folder.root / "continual.json", report)  # last: status 'finished' ends the run
    return result


def _resume_point(folder: RunFolder, spec: RunSpec, data: Prepared, tasks: int,
                  say: Any) -> tuple[int, Checkpoint | None]:
    """The task to continue and its checkpoint: the latest task with a valid one (task 0 and None: from the start).

    The data and the continual section must be as they were (the loop's checkpoints lock the rest).
    """
    if folder.preprocess.is_file() and read_json(folder.preprocess) != json.loads(json.dumps(data.preprocessor.to_json())):
        raise ConfigError(f"cannot resume {folder.root}: the data changed since the run started "
                          f"(the preprocessing fitted now differs from {folder.preprocess})")
    config = spec.to_dict()
    for index in reversed(range(tasks)):
        checkpoint, notes = resume_point(folder.checkpoints / f"task-{index + 1}", config)
        for note in notes:
            say(f"note: {note}")
        if checkpoint is None:
            continue
        if checkpoint.meta.config.get("continual") != config["continual"]:
            raise ConfigError(f"cannot resume {folder.root}: the continual section must stay as it was; it was "
                              f"{json.dumps(checkpoint.meta.config.get('continual'))[:200]}")
        say(f"note: resuming task {index + 1} of {tasks}")
        return index, checkpoint
    say(f"note: {folder.root} has no valid checkpoint; training it from the start")
    return 0, None


def _head(path: Path, task: int) -> str:
    """The lines of a per-task log (metrics.jsonl, losses.jsonl) that belong to tasks before ``task``."""
    if not path.is_file():
        return ""
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            number = json.loads(line).get("task")
        except (ValueError, AttributeError):
            break  # a line cut short by a crash: nothing after it is kept
        if not isinstance(number, int) or number >= task or not line.endswith("\n"):
            break
        kept.append(line)
    return "".join(kept)


def _printer(progress: str):
    """Per-task lines on stderr unless progress is 'none'."""
    import sys

    if progress == "none":
        return lambda text: None
    return lambda text: print(text, file=sys.stderr, flush=True)
