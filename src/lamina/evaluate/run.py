"""Evaluate a finished run on its test split, with the preprocessing saved in the run folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.data.prepare import Prepared, prepare_data
from lamina.data.preprocess import Preprocessor
from lamina.data.series import forecast_errors, seasonal_naive
from lamina.evaluate.groups import group_report
from lamina.evaluate.metrics import resolve_metrics
from lamina.evaluate.scoring import score
from lamina.errors import ConfigError, LaminaError
from lamina.files import write_json
from lamina.nn.outputs import model_outputs
from lamina.registry import EVALUATE_MODULES, Registry
from lamina.runs import PREDICT_BATCH, Run, RunFolder, load_run, prediction_rows, prediction_values, write_rows_csv


@dataclass(frozen=True)
class RunKind:
    """A kind of run folder besides the supervised one: which folders are its, and how one is re-scored.

    ``evaluate`` returns the report (``kind``, ``split``, ``samples``, ``metrics``: name -> number, and
    ``scored``: one line saying what was scored); :func:`evaluate_run` writes it to evaluation.json.
    """

    matches: Callable[[RunFolder], bool]
    evaluate: Callable[[RunFolder], dict[str, Any]]


# Feature folders register their run kinds here (their modules: lamina.registry.EVALUATE_MODULES), so this
# core module imports none of them and every family's folder is scored through one call.
RUN_KINDS: Registry[RunKind] = Registry("run kind", modules=EVALUATE_MODULES)


def raw_config(folder: RunFolder) -> dict[str, Any]:
    """The folder's config.yaml as data, or {} when it is missing or unreadable (what RunKind.matches reads)."""
    if not folder.config.is_file():
        return {}
    try:
        raw = folder.read_config()
    except LaminaError:
        return {}
    return raw if isinstance(raw, dict) else {}


def run_kind(folder: RunFolder) -> str | None:
    """The registered kind of the run folder (``gan``, ``language_model``, ...), or None for a supervised run."""
    for entry in RUN_KINDS.ordered():
        if entry.obj.matches(folder):
            return entry.name
    return None


def evaluate_run(run: Run | str | Path, split: str = "test", data: Prepared | None = None,
                 groups: list[str] | None = None) -> dict[str, Any]:
    """Score the run on ``split`` (test by default); writes evaluation.json and predictions/<split>.csv
    (predictions/val.csv too when scoring the test split).

    A seq2seq run generates each target from its source (greedy or beam search, per eval.decoding).

    The split is rebuilt from the run's config (same seed, same rows) and
    transformed with the run's saved preprocessing, not a refitted one; training
    passes the ``data`` it already prepared, so the file is not read a second time.

    Any other family's run folder (generative, language model, DPO, reward model, U-Net, pretraining)
    is scored by its registered :class:`RunKind` instead: its report says what was scored.

    ``groups`` (default: the run's eval.groups) names table columns to score by group: the report's
    ``groups`` holds each group's metrics and the gaps between groups (see lamina.evaluate.groups).
    """
    if not isinstance(run, Run):
        folder = RunFolder(run)
        kind = run_kind(folder) if folder.root.is_dir() else None
        if kind is not None:
            if groups:
                raise ConfigError(f"groups score a table's rows by column; {folder.root} is a {kind} run, "
                                  "which has none")
            report = RUN_KINDS.get(kind).evaluate(folder)
            write_json(folder.evaluation, report)
            return report
        run = load_run(run)
    groups = list(run.spec.eval.groups if groups is None else groups)
    if data is None or any(name not in data.groups for name in groups):
        data = prepare_data(run.spec.data, fitted=run.preprocessor, groups=groups)
    part = getattr(data, split)
    if run.task == "seq2seq":  # generated from the source alone, not teacher-forced
        outputs = run.decode(part.x)
    else:
        outputs = model_outputs(run.model, part.x, PREDICT_BATCH, run.device)
    names = resolve_metrics(run.spec.eval.metrics, run.task)
    metrics = score(outputs, part.y, run.preprocessor.target, names)
    predictions = write_predictions(run, part, outputs, split)
    if split == "test" and len(data.val) and run.task != "seq2seq":
        write_predictions(run, data.val, model_outputs(run.model, data.val.x, PREDICT_BATCH, run.device), "val")
    report = {"split": split, "samples": len(part), "task": run.task, "metrics": metrics,
              "classes": run.preprocessor.target.classes, "predictions": str(predictions)}
    if groups and len(part) and run.task in ("binary", "multiclass", "regression"):
        report["groups"] = scores_by_group(run, part, outputs, {name: data.groups[name][part.rows] for name in groups})
    series = run.spec.data.series
    if series is not None and len(part):
        report["forecast"] = {"units": "target", **forecast_errors(part.x, part.y, outputs, run.preprocessor.inputs,
                                                                     series.season)}
    if series is not None and series.season is not None and len(part):
        report["baseline"] = {f"seasonal_naive_{name}": value for name, value in
                              seasonal_naive_scores(part.x, part.y, run.preprocessor, series.season).items()}
    write_json(run.folder.evaluation, report)
    return report


def scores_by_group(run: Run, part: Any, outputs: Any, groups: dict[str, Any]) -> dict[str, Any]:
    """Metrics of each group of ``part`` and the gaps between groups, from the model's ``outputs``."""
    target = run.preprocessor.target
    values = prediction_values(outputs, target)
    truth = part.y.numpy()
    if target.task == "regression":
        truth = target.decode_values(truth.reshape(len(part), -1).astype(np.float64))
    return group_report(values, truth, target.task, groups)


def write_predictions(run: Run, part: Any, outputs: Any, split: str) -> Path:
    """predictions/<split>.csv: each row's index in the data, its true value and the prediction beside it."""
    target = run.preprocessor.target
    if target.task in ("binary", "multiclass"):
        truth = [{"true": target.classes[int(v)]} for v in part.y.reshape(len(part), -1)[:, 0].tolist()]
    elif target.task == "regression":
        values = target.decode_values(part.y.reshape(len(part), -1).numpy())
        truth = [{f"true_{n}": float(v) for n, v in zip(target.names, row)} for row in values]
    else:
        truth = [{} for _ in range(len(part))]
    rows = [{"row": int(r), **t, **p} for r, t, p in zip(part.rows, truth, prediction_rows(outputs, run.preprocessor))]
    path = run.folder.predictions / f"{split}.csv"
    write_rows_csv(path, rows)
    return path


def seasonal_naive_scores(x, y, prep: Preprocessor, season: int) -> dict[str, Any]:
    """MAE and MSE of the seasonal-naive forecast (repeat the last season), scored exactly as the model is."""
    outputs = seasonal_naive(x, prep.target.n_outputs, season)
    return score(outputs, y, prep.target, ["mae", "mse"])
