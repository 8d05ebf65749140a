"""The optuna study: samplers, pruners, shared storage and the worker loop.

Workers (processes on one machine, or on many with a shared database URL) share
one study through optuna's RDB storage. Each worker takes the next trial under the
study's lock (``coordination.study_lock``), so together they run exactly the
requested number of trials (finished or pruned). A trial left RUNNING by a worker
that died (on this machine: its PID is gone; on any machine: its heartbeats
stopped) is marked failed and queued again with the same parameters, so the study
carries on with nothing lost and nothing counted twice.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import time
import warnings
from typing import Any

from lamina.config import RunSpec, TuneSpec, parse_run_spec
from lamina.errors import ConfigError, LaminaError
from lamina.tune.coordination import GRACE_BEATS, counted, heartbeat, make_storage, recover_stale, study_lock
from lamina.tune.objective import DataCache, resolve_metric, run_trial
from lamina.tune.space import apply_params, grid_space


def _counted_grid(optuna: Any) -> type:
    """optuna's grid sampler without its stop at the grid's end, which works only inside ``Study.optimize``.

    lamina's workers ask and tell, and stop by counting trials (the grid's size caps the total), so
    the stop is not needed; optuna's raises RuntimeError outside ``optimize`` (seen on the last cell).
    """

    class CountedGridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            """Nothing to do: the worker loop stops when the study holds the grid's count of trials."""

    return CountedGridSampler


def make_sampler(tune: TuneSpec, seed: int, parallel: bool = False) -> Any:
    """The optuna sampler ``tune.sampler`` names, seeded (each worker gets its own seed)."""
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if tune.sampler == "grid":
        return _counted_grid(optuna)(grid_space(tune), seed=seed)
    if tune.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=tune.startup_trials,
                                            warn_independent_sampling=False)
    if tune.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=tune.startup_trials, constant_liar=parallel)


def make_pruner(tune: TuneSpec, epochs: int) -> Any:
    """The optuna pruner ``tune.pruner`` names; it sees the best-so-far metric after every epoch."""
    import optuna

    warmup = max(1, tune.warmup_epochs)
    if tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=tune.startup_trials, n_warmup_steps=tune.warmup_epochs)
    if tune.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup)
    if tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=warmup, max_resource=max(warmup, epochs))
    return optuna.pruners.NopPruner()


def objective_names(tune: TuneSpec, metric: str) -> list[str]:
    """Names of the study's objectives, in order (the metric first)."""
    return [metric] + [f"{o} (ms)" if o == "latency" else o for o in tune.objectives[1:]]


def open_study(spec: RunSpec, raw: dict[str, Any], url: str, directions: list[str]) -> Any:
    """Create the study, or load it to resume; a stored study made from another config is refused."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(url)
    study = optuna.create_study(study_name=spec.name, storage=storage, directions=directions, load_if_exists=True)
    fingerprint = _fingerprint(raw)
    stored = study.user_attrs.get("config_fingerprint")
    if stored is None:
        study.set_user_attr("config_fingerprint", fingerprint)
        study.set_user_attr("config", raw)
    elif stored != fingerprint:
        raise ConfigError(f"study {spec.name!r} in {url} was started from a different config; "
                          "pick another storage or change the config's name to start a new study")
    if [d.name.lower() for d in study.directions] != directions:
        raise ConfigError(f"study {spec.name!r} in {url} optimizes {study.directions}; the config asks {directions}")
    return study


def _fingerprint(raw: dict[str, Any]) -> str:
    """A hash of the config without the trial count and heartbeat (raising --trials resumes the same study)."""
    import json

    data = {k: v for k, v in raw.items() if k != "tune"} | {
        "tune": {k: v for k, v in raw["tune"].items() if k not in ("trials", "heartbeat")}}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def work(raw: dict[str, Any], url: str, total: int, worker: int, parallel: bool, threads: int = 0) -> int:
    """One worker: take trials from the shared study until ``total`` are counted; returns how many it ran."""
    import optuna
    import torch

    if threads:
        torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = parse_run_spec(raw)
    tune = spec.tune
    with study_lock(url, spec.name):  # each worker that joins the study, from any process or machine, samples its own way
        storage = make_storage(url, tune.heartbeat)  # the first one on a new database creates the tables
        shared = optuna.load_study(study_name=spec.name, storage=storage)
        joined = int(shared.user_attrs.get("workers_joined", 0))
        shared.set_user_attr("workers_joined", joined + 1)
    study = optuna.load_study(study_name=spec.name, storage=storage,
                              sampler=make_sampler(tune, tune.seed + 1000 * joined, parallel),
                              pruner=make_pruner(tune, spec.train.epochs))
    cache = DataCache()
    prune = tune.pruner != "none"
    ran = 0
    watch = RunningWatch(GRACE_BEATS * tune.heartbeat + tune.heartbeat)
    while True:
        with study_lock(url, spec.name):
            for number in recover_stale(study, storage):
                _say(f"trial {number}: its worker died; queued again")
            trial = study.ask() if counted(study) < total else None
            if trial is not None:
                trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
        if trial is None:
            if not watch.keep_waiting(study):
                return ran
            time.sleep(1)
            continue
        try:
            with heartbeat(storage, spec.name, trial.number):
                outcome = run_trial(trial, raw, tune, cache, prune)
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        for key, value in (("epochs", outcome.epochs), ("params", outcome.params), ("test", outcome.test),
                           ("config", outcome.config), ("note", outcome.note)):
            trial.set_user_attr(key, value)
        if outcome.values is None or outcome.pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, outcome.values)
        ran += 1
        _say(_line(trial.number, worker, outcome))


class RunningWatch:
    """When every trial is taken, whether to wait for the ones still running elsewhere.

    A trial whose worker died (on another machine) counts as running until its heartbeats
    go stale; a worker that waits for it re-runs it, so the study still ends with the
    requested count. The wait ends when nothing runs, or when the running set has not
    changed for ``patience`` seconds (those trials are alive and will finish by themselves).
    """

    def __init__(self, patience: float) -> None:
        self.patience = patience
        self.seen: set[int] = set()
        self.since = time.monotonic()

    def keep_waiting(self, study: Any) -> bool:
        """True while some trial runs and the running set changed within the patience."""
        from optuna.trial import TrialState

        running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        if running != self.seen:
            self.seen, self.since = running, time.monotonic()
        return bool(running) and time.monotonic() - self.since < self.patience


def _line(number: int, worker: int, outcome: Any) -> str:
    status = "diverged" if outcome.values is None else ("pruned" if outcome.pruned else "done")
    value = "" if outcome.values is None else " " + " ".join(f"{v:.4g}" for v in outcome.values)
    note = f"; {outcome.note}" if outcome.note and outcome.values is not None else ""
    return f"trial {number} [worker {worker}] {status}{value} ({outcome.epochs} epochs, {outcome.params:,} params{note})"


def _say(text: str) -> None:
    print(f"tune: {text}", file=sys.stderr, flush=True)


def _worker_main(raw: dict[str, Any], url: str, total: int, worker: int, threads: int) -> None:
    """Process entry point: a user error prints one line and exits 2, like the CLI."""
    try:
        work(raw, url, total, worker, True, threads)
    except LaminaError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def run_workers(raw: dict[str, Any], url: str, total: int, jobs: int) -> None:
    """Run ``jobs`` worker processes on the shared study (in this process when ``jobs`` is 1)."""
    import multiprocessing

    if jobs == 1:
        work(raw, url, total, 0, False)
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_worker_main, args=(raw, url, total, i, threads)) for i in range(jobs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    failed = [i for i, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        raise LaminaError(f"tune workers {failed} stopped with an error (see above); rerun the same command to resume")


def study_directions(spec: RunSpec) -> tuple[str, list[str]]:
    """The monitored metric and the study's directions, decided from the prepared data's task."""
    from lamina.data.prepare import prepare_data

    base = parse_run_spec(apply_params(spec.to_dict(), {}), "tune base config")
    metric, direction = resolve_metric(spec.tune, prepare_data(base.data), base)
    return metric, [direction] + ["minimize"] * (len(spec.tune.objectives) - 1)
