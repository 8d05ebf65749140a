"""``lamina train CONFIG --sweep``: a grid written on the command line, run through the tuner (issue 23, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lamina.cli import app
from lamina.errors import ConfigError
from lamina.tune.sweep import parse_sweeps, sweep_config


def test_values_split_on_commas_outside_brackets_and_read_as_yaml() -> None:
    grid = parse_sweeps(["train.optimizer.lr=1e-3, 3e-3,0.01", "model.hidden=[64],[128, 64]",
                         "train.optimizer.name=sgd,adam"])
    assert grid == {"train.optimizer.lr": [0.001, 0.003, 0.01], "model.hidden": [[64], [128, 64]],
                    "train.optimizer.name": ["sgd", "adam"]}


@pytest.mark.parametrize("item, message", [
    ("train.epochs", "expects key.path=value1,value2"),
    ("train.epochs=5", "at least two values"),
    ("model.hidden=[64,[128]", "unbalanced brackets"),
    ("train.epochs=1,,2", "empty value"),
])
def test_bad_sweeps_are_named(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sweeps([item])


def test_a_sweep_becomes_a_grid_with_one_trial_per_combination() -> None:
    raw = {"data": {"dataset": "iris"}, "model": {"arch": "mlp"}}
    swept = sweep_config(raw, parse_sweeps(["train.optimizer.lr=0.01,0.1", "model.hidden=[8],[16],[32]"]))
    assert swept["tune"]["sampler"] == "grid" and swept["tune"]["trials"] == 6
    assert "tune" not in raw
    with pytest.raises(ConfigError, match="already has one"):
        sweep_config(swept, {"train.epochs": [1, 2]})


def test_the_cli_trains_every_combination_and_compares_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "iris.yaml"
    config.write_text(yaml.safe_dump({"name": "iris-sweep", "seed": 0, "runs_dir": "runs",
                                      "data": {"dataset": "iris", "split": {"val": 0.2, "test": 0.2, "seed": 0}},
                                      "model": {"arch": "mlp", "hidden": [8]},
                                      "train": {"epochs": 3, "batch_size": 16}}))
    result = CliRunner().invoke(app, ["train", str(config), "--sweep", "train.optimizer.lr=0.001,0.05",
                                      "--sweep", "model.hidden=[4],[16]", "--progress", "none"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(rows) == 4 and {"0.001", "0.05"} <= set(result.output.split())
    assert (tmp_path / "runs" / "iris-sweep-sweep" / "best.yaml").is_file()
    refused = CliRunner().invoke(app, ["train", str(config), "--sweep", "train.epochs=1,2", "--nproc", "2"])
    assert refused.exit_code == 2 and "drop --resume, --remedy and --nproc" in refused.output
