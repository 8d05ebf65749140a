"""The Python API a notebook user sees: import cost, build, fit, load_run, predict."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import lamina
from tests.conftest import quick_spec


def test_public_names_resolve() -> None:
    for name in lamina.__all__:
        assert getattr(lamina, name) is not None


def test_build_fit_load_predict(tmp_path: Path) -> None:
    raw = quick_spec(tmp_path, train={"epochs": 20, "batch_size": 16, "optimizer": {"lr": 0.01}, "tensorboard": False})
    built = lamina.build(raw)
    assert built.model.input_shape == (4,) and built.model.output_shape == (3,)
    run = lamina.fit(raw, progress="none")
    importlib.import_module("lamina.train.loop")  # the subpackage must not shadow lamina.fit

    assert callable(lamina.fit)
    again = lamina.load_run(run.folder.root)
    report = lamina.evaluate_run(again)
    assert report["metrics"]["accuracy"] > 0.85


def test_an_eval_metric_that_does_not_fit_the_task_is_refused_before_training(tmp_path: Path) -> None:
    raw = quick_spec(tmp_path, eval={"metrics": ["accuracy", "mse"]})
    with pytest.raises(lamina.ConfigError, match="eval.metrics 'mse' does not apply to a multiclass task"):
        lamina.fit(raw, progress="none")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "no run folder was started"


def test_an_unknown_progress_style_is_refused_before_training(tmp_path: Path) -> None:
    with pytest.raises(lamina.ConfigError, match="progress must be one of auto, bar, plain, none; got 'fancy'"):
        lamina.fit(quick_spec(tmp_path), progress="fancy")
    assert not (tmp_path / "runs").exists()


def test_import_is_light() -> None:
    code = "import sys, lamina; print(any(m.split('.')[0] in ('sklearn', 'torchmetrics', 'tensorboard', 'matplotlib', 'typer') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
