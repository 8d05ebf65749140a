"""Run folders written by earlier versions of lamina still load and predict the same.

``tests/fixtures/run_folders/iris-mlp`` was trained by lamina 0.1.0 (commit 268807f, December 2026: a tiny
MLP on iris) and kept with the predictions it made then (``iris-mlp.expected.json``). A change to the run-folder
format, the config schema or the preprocessing that breaks old runs fails here; keep the folder as it is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lamina.evaluate.run import evaluate_run
from lamina.runs import load_run

FIXTURES = Path(__file__).parent / "fixtures" / "run_folders"


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    """A copy of the kept run folder (evaluation writes into it; the kept one stays as it was)."""
    return Path(shutil.copytree(FIXTURES / "iris-mlp", tmp_path / "iris-mlp"))


def test_an_old_run_folder_loads_and_predicts_as_it_did(old_run: Path) -> None:
    expected = json.loads((FIXTURES / "iris-mlp.expected.json").read_text())
    rows = load_run(old_run).predict(np.array(expected["inputs"]))
    assert [r["target"] for r in rows] == [r["target"] for r in expected["predictions"]]
    for got, kept in zip(rows, expected["predictions"]):
        assert {k: pytest.approx(v, abs=1e-5) for k, v in kept.items() if k != "target"} == \
            {k: v for k, v in got.items() if k != "target"}


def test_an_old_run_folder_is_evaluated_on_its_test_split(old_run: Path) -> None:
    kept = json.loads((old_run / "summary.json").read_text())["test"]
    report = evaluate_run(old_run)
    assert report["metrics"]["accuracy"] == pytest.approx(kept["accuracy"], abs=1e-6)
