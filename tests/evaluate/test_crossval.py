"""Cross-validation and time/group splits: folds are honest, and time-ordered folds expose a leak shuffling hides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lamina.cli import app
from lamina.config import parse_run_spec
from lamina.data.splits import fold_indices, planned_split
from lamina.evaluate.crossval import cross_validate

runner = CliRunner()


def test_time_and_group_splits_keep_their_promise() -> None:
    order = np.random.default_rng(0).permutation(200).astype(float)
    train, val, test = planned_split(200, None, 0.15, 0.2, 0, order=order)
    assert order[train].max() < order[val].min() and order[val].max() < order[test].min() and len(test) == 40
    groups = np.repeat(np.arange(40), 5)
    train, val, test = planned_split(200, None, 0.15, 0.2, 0, groups=groups)
    assert not set(groups[train]) & set(groups[test]) and not set(groups[train]) & set(groups[val])
    for fit, held in fold_indices(200, None, 4, 0, order=order):
        assert order[fit].max() < order[held].min()
    labels = np.array(["a"] * 150 + ["b"] * 50)
    for _, held in fold_indices(200, labels, 5, 0):
        assert (labels[held] == "b").sum() == 10  # stratified: every fold keeps the 3:1 balance


@pytest.mark.slow
def test_cv_on_breast_cancer_prints_mean_and_std(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "examples/breast_cancer_mlp.yaml", "--cv", "5", "--progress", "none",
                                 "--set", "train.epochs=5", "--set", f"runs_dir={tmp_path}"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "breast-cancer-mlp-cv" / "cv.json").read_text())
    accuracy = saved["metrics"]["accuracy"]
    assert len(saved["runs"]) == 5 and len(accuracy["folds"]) == 5 and accuracy["mean"] > 0.85
    assert f"accuracy: {accuracy['mean']:.4f} +- {accuracy['std']:.4f}" in result.output
    assert (Path(saved["runs"][0]) / "predictions" / "val.csv").is_file()
    header = (Path(saved["runs"][0]) / "predictions" / "test.csv").read_text().splitlines()[0]
    assert header.startswith("row,true,")


def drifting_table(path: Path) -> Path:
    """A label whose rule drifts with time: learnable from nearby times, not from the past alone."""
    rng = np.random.default_rng(0)
    n = 600
    t = np.arange(n)
    x = rng.normal(size=n)
    label = (x + 2 * np.sin(2 * np.pi * 2 * t / n) > 0).astype(int)
    path.write_text("t,x,label\n" + "\n".join(f"{a},{b:.4f},{c}" for a, b, c in zip(t, x, label)) + "\n")
    return path


@pytest.mark.slow
def test_time_ordered_folds_score_lower_than_shuffled(tmp_path: Path) -> None:
    base = {"name": "drift", "runs_dir": str(tmp_path), "seed": 0,
            "data": {"path": str(drifting_table(tmp_path / "drift.csv")), "target": "label"},
            "model": {"arch": "mlp", "hidden": [32, 32]},
            "train": {"epochs": 15, "tensorboard": False, "diagnose": False}}
    shuffled = cross_validate(parse_run_spec(base), 3, "none")["metrics"]["accuracy"]["mean"]
    base["data"]["split"] = {"order": "t"}
    ordered = cross_validate(parse_run_spec(base), 3, "none")["metrics"]["accuracy"]["mean"]
    assert ordered < shuffled - 0.1, (ordered, shuffled)


@pytest.mark.parametrize("args, words", [
    (["--cv", "1"], "--cv must be at least 2 folds; got 1"),
    (["--cv", "3", "--set", "data.split.group=patient"], "not a table"),
])
def test_bad_cv_input_is_one_error_line(tmp_path: Path, args: list[str], words: str) -> None:
    result = runner.invoke(app, ["train", "examples/breast_cancer_mlp.yaml", "--progress", "none",
                                 "--set", f"runs_dir={tmp_path}", *args])
    assert result.exit_code == 2 and result.output.count("error:") == 1 and words in result.output, result.output


def test_group_column_must_exist(tmp_path: Path) -> None:
    spec = parse_run_spec({"name": "g", "runs_dir": str(tmp_path),
                           "data": {"path": str(drifting_table(tmp_path / "d.csv")), "target": "label",
                                    "split": {"group": "patient"}},
                           "model": {"arch": "mlp"}, "train": {"epochs": 1}})
    from lamina.errors import DataError

    with pytest.raises(DataError, match="no data.split.group column 'patient'"):
        cross_validate(spec, 3, "none")
