"""Train a run from a spec: data, model, loop, run folder, test evaluation, summary."""

from __future__ import annotations

import json
import random
import re
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.config import AUTO_ARCH, RunSpec, load_config, parse_run_spec, save_config
from lamina.data.prepare import Prepared, prepare_data
from lamina.device import resolve_device
from lamina.errors import ConfigError, RunFolderError
from lamina.evaluate.metrics import higher_is_better, resolve_epoch_metrics, resolve_metrics
from lamina.evaluate.run import evaluate_run
from lamina.files import read_json, save_tensors, write_json
from lamina.nn.auto import choose_model
from lamina.nn.build import Built, build_model
from lamina.runs import Run, RunFolder, check_runs_dir, load_run
from lamina.train.callbacks import (
    Callback,
    EarlyStopping,
    LossLog,
    MetricsLog,
    Progress,
    TensorBoardLog,
    check_progress,
    check_monitor,
)
from lamina.train.checkpoint import Checkpoint, Checkpoints, load_best_weights, resume_point, versions
from lamina.train.distributed import World, join_from_environment, leave, process_device
from lamina.train.fields import refuse_train_fields
from lamina.train.hooks import Setup, apply_hooks
from lamina.train.loop import State, TrainingDiverged, fit
from lamina.train.lock import RunFolderBusy, run_lock

# The train fields a supervised run cannot use (every other one acts): refused, naming the field, when set.
SUPERVISED_REFUSED = {"selfsup": "it is the section of self-supervised pretraining, which lamina train CONFIG runs "
                                  "(lamina.transfer.selfsup.pretrain from Python)"}


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators so a run repeats."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def monitors(data: Prepared, epoch_metrics: list[str] | str) -> list[str]:
    """The quantities the loop logs each epoch, which early stopping and checkpoints may monitor."""
    names = ["train_loss"]
    if len(data.val):
        names += ["val_loss"] + [f"val_{m}" for m in resolve_epoch_metrics(epoch_metrics, data.task)]
    return names


def as_spec(config: RunSpec | dict[str, Any] | str | Path) -> RunSpec:
    """Accept a RunSpec, plain config data, or the path of a YAML config."""
    if isinstance(config, RunSpec):
        return config.model_copy(deep=True)
    if isinstance(config, dict):
        return parse_run_spec(config)
    return load_config(config)


def build(config: RunSpec | dict[str, Any] | str | Path) -> Built:
    """Build (untrained) the model a config describes, with shapes inferred from its data."""
    spec = as_spec(config)
    data = prepare_data(spec.data)
    return build_model(spec.model, data.input_shape, data.output_shape, data.vocab, data.categories, data.task)


def spec_with_data(config: RunSpec | dict[str, Any] | str | Path, data: Any) -> tuple[RunSpec, Any]:
    """The config as a RunSpec whose data comes from Python (``data.python`` set), and the data checked.

    ``data`` is what :func:`train` takes (see lamina.data.memory); a config that also names a data file or
    builtin set is refused, since it would be unclear which one trains.
    """
    from lamina.data.memory import in_memory

    held = in_memory(data)
    if isinstance(config, RunSpec):
        if config.data.path is not None or config.data.dataset is not None:
            raise ConfigError("data was given to fit, but the config also names "
                              + (f"data.path {config.data.path}" if config.data.path else f"data.dataset {config.data.dataset}")
                              + "; give one of them")
        spec = config.model_copy(deep=True)
        spec.data.python = held.kind
        return spec, held
    if not isinstance(config, (dict, str, Path)):
        raise ConfigError(f"config must be a RunSpec, a dict of sections or the path of a YAML file; got {type(config).__name__}")
    return load_config(config, [f"data.python={held.kind}"]), held


def train(config: RunSpec | dict[str, Any] | str | Path, progress: str = "auto",
          extra_callbacks: list[Callback] | None = None, resume: bool = False, data: Any = None,
          report: bool = True) -> Run | None:
    """Train the run a config describes and return it loaded from its new run folder.

    ``data`` trains on data already in memory instead of a file: ``(X, y)``, ``(X_train, y_train,
    X_val, y_val)`` (no test split then) or a pandas DataFrame / pyarrow Table whose column
    ``data.target`` is predicted; the config then names no data.path or data.dataset
    (see lamina.data.memory for shapes and how the task is chosen). ``report=False`` writes no
    report.html and draws no figures (lamina.sklearn trains many small models that nobody opens).

    Started by torchrun (WORLD_SIZE > 1), each process trains its share of every batch
    (see lamina.train.distributed); rank 0 writes the run and returns it, the others return None.

    ``progress`` is 'auto' (a bar on a terminal, lines otherwise), 'bar', 'plain' or 'none';
    ``extra_callbacks`` join the built-in ones (see lamina.train.callbacks for the events).
    With ``resume``, the newest run folder of the config's name that has not finished
    continues from its newest valid checkpoint (a new run starts when there is none).
    """
    check_progress(progress)
    spec, given = spec_with_data(config, data) if data is not None else (as_spec(config), None)
    if spec.generative is not None:  # never trained as a classifier in silence
        raise ConfigError("this config has a generative section, which fit does not train; call "
                          "lamina.generative.run.train_generative(config) (or run lamina train CONFIG, which trains "
                          "every family)")
    if spec.train.selfsup is not None:  # a resolved config.yaml holds selfsup: null
        refuse_train_fields(spec.train, SUPERVISED_REFUSED, "supervised", "lamina train")
    if spec.data.path is not None:
        spec.data.path = str(Path(spec.data.path).resolve())
    folder = unfinished_run(spec.runs_dir, spec.name) if resume else None
    return _train(spec, folder, progress, extra_callbacks, given, report)


def resume(run: str | Path, overrides: list[str] | None = None, progress: str = "auto",
           extra_callbacks: list[Callback] | None = None) -> Run:
    """Continue an interrupted run from its newest valid checkpoint, mid-epoch included, or train a finished one longer.

    The run's own config.yaml is used, with ``overrides`` (``key.path=value``) applied;
    changing the model, optimizer, data or batching is refused with the difference.
    A finished run continues when ``train.epochs`` is raised past the epochs it ran
    (see :func:`reopen_finished`).
    """
    check_progress(progress)
    folder = RunFolder(run)
    if not folder.config.is_file():
        raise RunFolderError(f"{folder.root} is not a run folder: config.yaml is missing")
    spec = load_config(folder.config, overrides)
    if not folder.summary.is_file():
        return _train(spec, folder, progress, extra_callbacks)
    kept = reopen_finished(folder, spec.train.epochs)
    try:
        return _train(spec, folder, progress, extra_callbacks)
    except (ConfigError, RunFolderBusy):  # refused before training (a locked field or the data changed, or
        # another process holds the run): the run stays finished
        kept.replace(folder.summary)
        raise


def reopen_finished(folder: RunFolder, epochs: int) -> Path:
    """Let a finished run train on to ``epochs``: its summary.json becomes summary-epoch-<N>.json, kept.

    Training then continues from the checkpoint of its last epoch, exactly as
    an interrupted run would: same weights, optimizer, generators and batch
    order, so a run without an epoch-dependent schedule ends as one trained for
    ``epochs`` from the start. A schedule sized by train.epochs (cosine,
    one-cycle) follows the new length from there on. Without a higher
    ``epochs`` it is an error that says how to ask for more. Returns where the summary went.
    """
    done = read_json(folder.summary).get("epochs_run", 0)
    if epochs <= done:
        raise RunFolderError(f"{folder.root} has finished ({done} epochs; summary.json exists); there is nothing to "
                             f"resume. To train it longer, raise train.epochs: lamina resume {folder.root} "
                             f"--set train.epochs={2 * done}")
    kept = folder.root / f"summary-epoch-{done}.json"
    folder.summary.replace(kept)
    return kept


def unfinished_run(runs_dir: str | Path, name: str) -> RunFolder | None:
    """The newest run folder named ``name`` (or ``name-N``) when it has not finished; None when there is none."""
    base = Path(runs_dir)
    pattern = re.compile(re.escape(name) + r"(?:-(\d+))?$")
    found = [(int(m.group(1) or 1), p) for p in base.glob(f"{name}*") if p.is_dir() and (m := pattern.match(p.name))]
    if not found:
        return None
    folder = RunFolder(max(found)[1])
    if folder.summary.is_file():
        raise RunFolderError(f"{folder.root} has finished (summary.json exists); there is nothing to resume. "
                             f"Train without --resume to start a new run, or train it longer with: "
                             f"lamina resume {folder.root} --set train.epochs=N")
    return folder if folder.config.is_file() else None


def _train(spec: RunSpec, folder: RunFolder | None, progress: str,
           extra_callbacks: list[Callback] | None, given: Any = None, report: bool = True) -> Run | None:
    """Train into a new run folder (``folder`` None) or continue the run in ``folder``; ``given``: data from Python;
    ``report``: write report.html and its figures."""
    if folder is not None and (folder.root / "continual.json").is_file():  # its logs and checkpoints are per task
        raise RunFolderError(f"{folder.root} holds a task sequence of lamina continual; continue it with "
                             f"lamina resume {folder.root} (or lamina continual CONFIG --resume)")
    world = join_from_environment(resolve_device(spec.train.device))
    try:
        with ExitStack() as locks:  # the run folder's lock, taken inside, released here
            return _train_process(spec, folder, progress if world.main else "none", extra_callbacks, world, locks,
                                  given, report)
    finally:
        leave()


def _train_process(spec: RunSpec, folder: RunFolder | None, progress: str, extra_callbacks: list[Callback] | None,
                   world: World, locks: ExitStack, given: Any = None, html: bool = True) -> Run | None:
    """One process's part of :func:`_train`: all of it in a single process; rank 0 alone writes the run.

    Rank 0 holds the run folder's lock (see lamina.train.lock) in ``locks`` from before it reads a
    checkpoint or writes anything there, so a second process on the same run is refused.
    """
    if spec.train.threads is not None:
        torch.set_num_threads(spec.train.threads)
    if folder is not None and world.main:
        locks.enter_context(run_lock(folder.root))  # first: a second process is refused before it reads the data
    if folder is None and world.main:
        check_runs_dir(spec.runs_dir)  # a runs_dir that cannot hold runs fails now, not after the data is read
        if "mlflow" in spec.train.loggers():
            from lamina.train.mlflow_log import check_mlflow

            check_mlflow()  # likewise a tracker that is not installed, before a run folder exists
    seed_everything(spec.seed)
    data = prepare_data(spec.data, given=given, groups=spec.eval.groups, group_inputs=spec.eval.group_inputs,
                        quality=world.main)  # the quality report from the same read (run_quality below)
    if data.schema and world.main and progress != "none":
        from lamina.data.schema import format_schema

        print(format_schema(data.schema), file=sys.stderr)
    data = apply_hooks("data", Setup(spec, data)).data
    if spec.model.arch == AUTO_ARCH:  # the concrete choice is what config.yaml and the checkpoints record
        choice = choose_model(data.input_shape, data.vocab, data.task, data.output_shape)
        spec.model = choice.spec
        if world.main and progress != "none":
            print(choice.line(), file=sys.stderr)
    built = build_model(spec.model, data.input_shape, data.output_shape, data.vocab, data.categories,
                        data.task if world.main else None)
    if world.distributed:
        torch.manual_seed(spec.seed + world.rank)  # the same initial weights, but each rank its own dropout
    available = monitors(data, spec.train.epoch_metrics)
    monitor = spec.train.monitor if spec.train.monitor in available or len(data.val) else "train_loss"
    check_monitor(monitor, available, "train.monitor")
    if spec.train.early_stopping is not None:
        check_monitor(spec.train.early_stopping.monitor, available, "train.early_stopping.monitor")
    if spec.data.sampler == "balanced" and data.task not in ("binary", "multiclass"):
        raise ConfigError(f"data.sampler 'balanced' needs a classification task (binary or multiclass); got {data.task}")
    resolve_metrics(spec.eval.metrics, data.task)  # a metric that does not fit the task fails now, not after training
    device = process_device(resolve_device(spec.train.device), world)
    setup = apply_hooks("training", Setup(spec, data, device, world.main, built.model))

    checkpoint = None
    if folder is not None:
        checkpoint = _resume_checkpoint(folder, spec, data, progress)
    elif world.main:
        folder = RunFolder.create(spec.runs_dir, spec.name)
        locks.enter_context(run_lock(folder.root))
    if world.main:
        save_config(spec, folder.config)
        write_json(folder.preprocess, data.preprocessor.to_json())
        if data.schema:
            write_json(folder.root / "schema.json", {"columns": data.schema})
        from lamina.data.quality import run_quality

        run_quality(spec.data, data, folder.root, given)  # quality.json, and a warning line for leaked rows or a class of one

    callbacks: list[Callback] = []
    checkpoints = None
    tracker = None  # the MLflow logger, which also takes the finished run folder
    if world.main:
        mode = "max" if higher_is_better(monitor) else "min"
        checkpoints = Checkpoints(folder.checkpoints, spec.train.checkpoint, monitor, mode, spec.to_dict())
        callbacks += [Progress(progress), MetricsLog(folder.metrics), LossLog(folder.losses)]
        if "tensorboard" in spec.train.loggers():
            callbacks.append(TensorBoardLog(folder.tensorboard))
        if "mlflow" in spec.train.loggers():
            from lamina.train.mlflow_log import MlflowLog

            tracker = MlflowLog(spec.to_dict(), folder.root.name)
            callbacks.append(tracker)
    if spec.train.early_stopping is not None:
        es = spec.train.early_stopping
        callbacks.append(EarlyStopping.from_spec(es))
    if spec.train.augment:
        from lamina.train.augmenting import Augmentation

        callbacks.append(Augmentation(spec.train.augment, spec.seed, device))
    callbacks += setup.callbacks + (extra_callbacks or [])
    if world.main:
        callbacks += apply_hooks("observer", setup).observers
    if checkpoints is not None:
        callbacks.append(checkpoints)  # last: the checkpoint holds every other callback's state after the epoch

    started = time.perf_counter()
    try:
        state = fit(setup.model, setup.data, spec.train, callbacks, device, seed=spec.seed,
                    batch_path=spec.data.batch_path, workers=spec.data.loader_workers, resume=checkpoint,
                    groups=setup.groups, sampler=spec.data.sampler)
    except TrainingDiverged as exc:
        kept = checkpoints.newest() if checkpoints is not None else None
        message = f"{exc}; the last good checkpoint is kept: {kept}" if kept else str(exc)
        if world.main:
            setup.finish(folder.root, progress, diverged=message)
        raise TrainingDiverged(message) from None
    seconds = time.perf_counter() - started
    if not world.main:
        return None
    leave()  # rank 0 alone evaluates and writes the run

    if spec.train.restore_best and checkpoints.best is not None:
        built.model.load_state_dict(load_best_weights(folder.checkpoints))

    save_tensors(folder.weights, built.model.state_dict())
    run = load_run(folder.root, device=str(device))
    tested = time.perf_counter()
    report = evaluate_run(run, data=data) if len(data.test) else {"metrics": {}}
    record = summary(spec, data, built.params, state, seconds, checkpoints, report, world.size)
    record["timings"] = {**data.timings, "train_seconds": round(seconds, 3),
                         "test_seconds": round(time.perf_counter() - tested, 3)}
    write_json(folder.summary, record)
    setup.finish(folder.root, progress)
    if html:
        write_run_report(folder.root, progress)
    if tracker is not None:
        tracker.finish(folder.root, read_json(folder.summary))
    return run


def _resume_checkpoint(folder: RunFolder, spec: RunSpec, data: Prepared, progress: str) -> Checkpoint | None:
    """The checkpoint a run continues from (None: from the start), after checking the data did not change."""
    if folder.preprocess.is_file() and read_json(folder.preprocess) != json.loads(json.dumps(data.preprocessor.to_json())):
        raise ConfigError(f"cannot resume {folder.root}: the data changed since the run started "
                          f"(the preprocessing fitted now differs from {folder.preprocess})")
    checkpoint, notes = resume_point(folder.checkpoints, spec.to_dict())
    if checkpoint is None:
        notes.append(f"{folder.root} has no valid checkpoint; training it from the start")
    if progress != "none":
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    return checkpoint


def write_run_report(root: Path, progress: str) -> None:
    """Write the run's report.html now and draw its figures/ in the background (``lamina.wait_for_reports``).

    Drawing three matplotlib figures takes longer than training a small model, and nobody
    needs them before opening the page. A failure is reported, never loses the finished run.
    """
    from lamina.report.html import write_report

    try:
        path = write_report(root, background=True)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"warning: report.html was not written: {exc}", file=sys.stderr)
        return
    if progress != "none":
        print(f"report: {path}", file=sys.stderr)


def summary(spec: RunSpec, data: Prepared, params: int, state: State, seconds: float, checkpoints: Checkpoints,
            report: dict[str, Any], processes: int = 1) -> dict[str, Any]:
    """The content of summary.json: final metrics, timings, sizes, process count and versions."""
    return {
        "name": spec.name,
        "task": data.task,
        "data": data.source,
        "samples": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "input_shape": list(data.input_shape),
        "outputs": data.n_outputs,
        "params": params,
        "epochs_run": len(state.history),
        "stopped_early": state.stopped_early,
        "monitor": checkpoints.monitor,
        "best_epoch": checkpoints.best_epoch,
        "best_value": checkpoints.best,
        "restored_best": spec.train.restore_best and checkpoints.best is not None,
        "processes": processes,
        "train_seconds": round(seconds, 3),
        "seconds_per_epoch": round(seconds / max(1, len(state.history)), 4),
        "final_epoch": state.history[-1] if state.history else {},
        "test": report["metrics"],
        **({"baseline": report["baseline"]} if "baseline" in report else {}),
        **({"forecast": report["forecast"]} if "forecast" in report else {}),
        **({"groups": report["groups"]} if "groups" in report else {}),
        "versions": versions(),
    }
