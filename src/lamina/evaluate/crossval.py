"""Cross-validation (``lamina train CONFIG --cv K``): K runs, one per fold, and the mean and spread of their scores.

Each fold is an ordinary run whose config says which fold it tests on
(``data.split.folds``/``data.split.fold``), so any fold can be rebuilt,
evaluated or served like any run. Folds are stratified K-fold, group K-fold
(``data.split.group``) or time-ordered (``data.split.order``: every test fold
lies after its training rows). The runs go into ``<runs_dir>/<name>-cv/``
beside a cv.json with each fold's test metrics and their mean and standard deviation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.config import RunSpec
from lamina.errors import ConfigError
from lamina.files import read_json, write_json


def cross_validate(spec: RunSpec, folds: int, progress: str = "auto") -> dict[str, Any]:
    """Train one run per fold and write cv.json; returns its content."""
    from lamina.runs import RunFolder
    from lamina.trainer import train

    if folds < 2:
        raise ConfigError(f"--cv must be at least 2 folds; got {folds}")
    if spec.data.series is not None:
        raise ConfigError("--cv does not apply to data.series (forecasting splits are chronological windows)")
    home = RunFolder.create(spec.runs_dir, f"{spec.name}-cv").root
    kind = "time-ordered" if spec.data.split.order else "group" if spec.data.split.group else "stratified"
    runs, scores = [], []
    for fold in range(folds):
        fold_spec = spec.model_copy(deep=True)
        fold_spec.name, fold_spec.runs_dir = f"fold{fold + 1}", str(home)
        fold_spec.data.split.folds, fold_spec.data.split.fold = folds, fold
        run = train(fold_spec, progress=progress)
        test = read_json(run.folder.root / "summary.json").get("test", {})
        runs.append(str(run.folder.root))
        scores.append({k: v for k, v in test.items() if isinstance(v, (int, float))})
    names = [k for k in scores[0] if all(k in s for s in scores)]
    report = {"folds": folds, "kind": kind, "runs": runs,
              "metrics": {k: {"mean": float(np.mean([s[k] for s in scores])), "std": float(np.std([s[k] for s in scores])),
                              "folds": [s[k] for s in scores]} for k in names}}
    write_json(home / "cv.json", report)
    report["path"] = str(home / "cv.json")
    return report


def format_cv(report: dict[str, Any]) -> str:
    """Mean and standard deviation per metric, one line each."""
    lines = [f"{report['folds']}-fold cross-validation ({report['kind']}):"]
    lines += [f"  {name}: {m['mean']:.4f} +- {m['std']:.4f}  (folds: {', '.join(f'{v:.4f}' for v in m['folds'])})"
              for name, m in report["metrics"].items()]
    return "\n".join(lines + [f"cv: {report['path']}"])
