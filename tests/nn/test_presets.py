"""The common preset suite: every registered preset builds, trains (loss falls) and round-trips a run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lamina.config import parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError, ShapeError
from lamina.nn.build import build_model
from lamina.registry import PRESETS
from lamina.runs import load_run
from lamina.trainer import train

NAMES = PRESETS.names()


def _spec(name: str, tmp_path: Path):
    example = PRESETS.get(name).example
    training = {"epochs": 4, "optimizer": {"lr": 0.003}, **example.get("train", {}), "tensorboard": False}
    return parse_run_spec({**example, "name": name, "runs_dir": str(tmp_path), "train": training})


@pytest.mark.parametrize("name", NAMES)
def test_preset_builds_for_its_example_data(name: str, tmp_path: Path) -> None:
    spec = _spec(name, tmp_path)
    data = prepare_data(spec.data)
    built = build_model(spec.model, data.input_shape, data.output_shape, data.vocab, data.categories)
    assert built.model(data.train.x[:5]).shape == (5, *data.output_shape)
    assert built.params > 0 and built.rows


@pytest.mark.parametrize("name", NAMES)
def test_preset_trains_and_round_trips_its_run_folder(name: str, tmp_path: Path) -> None:
    run = train(_spec(name, tmp_path), progress="none")
    logs = [json.loads(line) for line in run.folder.metrics.read_text().splitlines()]
    assert logs[-1]["train_loss"] < 0.7 * logs[0]["train_loss"]
    again = load_run(run.folder.root)
    x = prepare_data(run.spec.data, fitted=run.preprocessor).test.x
    assert torch.equal(run.outputs(x), again.outputs(x))


def test_preset_option_errors_are_specific() -> None:
    with pytest.raises(ConfigError, match="model.widths and model.blocks must have the same length"):
        parse_run_spec({"data": {"dataset": "digits"}, "model": {"arch": "resnet", "widths": [8], "blocks": [1, 1]}})
    with pytest.raises(ConfigError, match="model.activation must be one of .*got 'rleu'. Did you mean 'relu'"):
        parse_run_spec({"data": {"dataset": "iris"}, "model": {"arch": "mlp", "activation": "rleu"}})


def test_image_presets_refuse_flat_data() -> None:
    spec = parse_run_spec({"data": {"dataset": "digits", "view": "flat"}, "model": {"arch": "cnn"}})
    with pytest.raises(ShapeError, match="model.arch 'cnn' needs .* input; got \\(64,\\)"):
        build_model(spec.model, (64,), 10)


def test_chain_must_end_in_the_task_width() -> None:
    spec = parse_run_spec({"data": {"dataset": "iris"}, "model": {"layers": [{"dense": 8}, "relu", {"dense": 5}]}})
    with pytest.raises(ShapeError, match=r"outputs shape \(5,\) but the task needs \(3,\); end the chain with \{dense: 3\}"):
        build_model(spec.model, (4,), 3)
