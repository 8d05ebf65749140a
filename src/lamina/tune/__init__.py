"""Hyperparameter and architecture search with optuna (``lamina tune CONFIG``).

A run config's ``tune:`` section declares the space (``params`` over dotted config
paths, ``nas`` over layer chains), the sampler, the pruner and the objectives.
:func:`tune` runs the trials (in worker processes sharing one study through an
optuna storage, so it resumes after an interruption) and writes the best config as
a ready-to-train YAML plus a report with figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamina.config import RunSpec
from lamina.errors import ConfigError


def tune_dir(spec: RunSpec) -> Path:
    """Where a study's outputs go by default: ``<runs_dir>/<name>-tune``."""
    return Path(spec.runs_dir) / f"{spec.name}-tune"


def tune(config: RunSpec | dict[str, Any] | str | Path, trials: int | None = None, jobs: int = 1,
         storage: str | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Run (or resume) the search a config's ``tune:`` section declares and return the report.

    ``trials`` overrides ``tune.trials`` (the study's total, counting earlier sessions);
    ``jobs`` worker processes share the study; ``storage`` is an optuna database URL
    (default: ``sqlite:///<out>/study.db``); ``out`` defaults to ``<runs_dir>/<name>-tune``.
    """
    from lamina.trainer import as_spec
    from lamina.tune.report import write_report
    from lamina.tune.space import check_space
    from lamina.tune.coordination import study_lock
    from lamina.tune.study import objective_names, open_study, run_workers, study_directions

    spec = as_spec(config)
    if spec.data.path is not None:
        spec.data.path = str(Path(spec.data.path).resolve())
    check_space(spec)
    if jobs < 1:
        raise ConfigError(f"jobs must be a positive integer; got {jobs}")
    if trials is not None:
        if trials < 1:
            raise ConfigError(f"trials must be a positive integer; got {trials}")
        spec.tune.trials = trials
    total = spec.tune.trials
    if spec.tune.sampler == "grid":
        from lamina.tune.space import grid_space

        total = min(total, _grid_size(grid_space(spec.tune)))
    out = Path(out) if out is not None else tune_dir(spec)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    raw = spec.to_dict()
    metric, directions = study_directions(spec)
    with study_lock(url, spec.name):  # workers started together create the tables and the study once
        study = open_study(spec, raw, url, directions)
    run_workers(raw, url, total, jobs)
    report = write_report(study, out, objective_names(spec.tune, metric))
    report["storage"] = url
    return report


def _grid_size(grid: dict[str, list[Any]]) -> int:
    size = 1
    for values in grid.values():
        size *= len(values)
    return size
