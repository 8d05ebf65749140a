"""`lamina resume RUN --set train.epochs=N` trains a finished run longer (issue 24, item 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lamina
from lamina.errors import ConfigError, RunFolderError


def _spec(runs: Path, name: str, epochs: int) -> dict:
    """Iris, a dropout MLP, a constant rate: every epoch's update depends only on the state a checkpoint holds."""
    return {"name": name, "runs_dir": str(runs), "seed": 3, "data": {"dataset": "iris"},
            "model": {"arch": "mlp", "hidden": [16], "dropout": 0.2},
            "train": {"epochs": epochs, "batch_size": 8, "tensorboard": False, "diagnose": False,
                      "optimizer": {"name": "adam", "lr": 0.01}}}


def test_a_finished_run_trains_longer_exactly_as_one_run(tmp_path: Path) -> None:
    straight = lamina.fit(_spec(tmp_path, "straight", 4), progress="none").folder.root
    short = lamina.fit(_spec(tmp_path, "short", 2), progress="none").folder.root
    with pytest.raises(RunFolderError, match="--set train.epochs=4"):
        lamina.resume(short, progress="none")  # not longer than it ran: says how to ask for more
    extended = lamina.resume(short, ["train.epochs=4"], progress="none").folder.root
    assert extended == short
    assert (short / "losses.jsonl").read_bytes() == (straight / "losses.jsonl").read_bytes()
    assert (short / "metrics.jsonl").read_bytes() == (straight / "metrics.jsonl").read_bytes()
    assert json.loads((short / "summary.json").read_text())["epochs_run"] == 4
    assert json.loads((short / "summary-epoch-2.json").read_text())["epochs_run"] == 2  # the first result, kept
    with pytest.raises(ConfigError, match="train.batch_size: 8 -> 16"):
        lamina.resume(short, ["train.epochs=6", "train.batch_size=16"], progress="none")
    assert json.loads((short / "summary.json").read_text())["epochs_run"] == 4  # refused: still finished
