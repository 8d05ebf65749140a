"""A backbone whose run trained on the new run's test rows is caught: counted from both configs, and warned about."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from lamina.config import parse_run_spec
from lamina.errors import LaminaWarning
from lamina.trainer import train
from lamina.transfer.overlap import backbone_overlap


def _backbone_folder(root: Path, data: dict) -> Path:
    """A run folder as far as the overlap check reads it: its config.yaml."""
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump({"data": data, "model": {"arch": "mlp"}}))
    return root


def _new_run(backbone: Path, data: dict):
    return parse_run_spec({"data": data, "model": {"backbone": {"run": str(backbone)}, "layers": [{"dense": 10}]}})


def test_a_backbone_split_differently_on_the_same_data_saw_most_test_rows(tmp_path: Path) -> None:
    backbone = _backbone_folder(tmp_path / "bb", {"dataset": "digits", "split": {"val": 0.15, "test": 0.2, "seed": 0}})
    note = backbone_overlap(_new_run(backbone, {"dataset": "digits", "split": {"val": 0.15, "test": 0.2, "seed": 1}}))
    assert note is not None and "test rows were among the rows the backbone's run" in note
    seen, total = (int(word) for word in note.split()[:5:4])  # "N of this run's M test rows ..."
    assert total == 359 and 0.7 * total < seen < 0.9 * total, note  # it trained or validated on 80% of the rows
    assert "its data.split val 0.15, test 0.2, seed 0, this run's val 0.15, test 0.2, seed 1" in note


@pytest.mark.parametrize("data", [{"dataset": "digits", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
                                  {"dataset": "iris", "split": {"seed": 5}}])
def test_the_same_split_or_other_data_gives_no_warning(tmp_path: Path, data: dict) -> None:
    backbone = _backbone_folder(tmp_path / "bb", {"dataset": "digits", "split": {"val": 0.15, "test": 0.2, "seed": 0}})
    assert backbone_overlap(_new_run(backbone, data)) is None


def test_training_on_a_backbone_that_saw_the_test_rows_warns(tmp_path: Path) -> None:
    base = {"runs_dir": str(tmp_path / "runs"), "train": {"epochs": 1, "tensorboard": False, "diagnose": False}}
    first = train({**base, "name": "bb", "data": {"dataset": "iris"}, "model": {"arch": "mlp", "hidden": [8]}},
                  progress="none")
    reused = {**base, "name": "head", "model": {"backbone": {"run": str(first.folder.root)}, "layers": [{"dense": 3}]}}
    with pytest.warns(LaminaWarning, match=r"of this run's 22 test rows were among the rows the backbone's run"):
        train({**reused, "data": {"dataset": "iris", "split": {"seed": 1}}}, progress="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LaminaWarning)
        train({**reused, "data": {"dataset": "iris"}}, progress="none")
