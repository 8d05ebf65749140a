"""The tune: section: validation of the space, sampling with conditions, applying values to a config."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from lamina.config import parse_run_spec
from lamina.errors import ConfigError
from lamina.tune.nas import sample_chain
from lamina.tune.space import apply_params, check_space, grid_space, sample_params
from tests.conftest import quick_spec


def spec_with(tmp_path: Path, tune: dict, **sections):
    return parse_run_spec(quick_spec(tmp_path, tune=tune, **sections))


def test_a_typo_in_a_path_gets_did_you_mean(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, {"params": {"train.optimzer.lr": {"low": 1e-4, "high": 1e-1, "log": True}}})
    with pytest.raises(ConfigError, match=r"train.optimzer.lr is not a config field. Did you mean 'optimizer'\?"):
        check_space(spec)


def test_a_model_option_typo_names_the_model_fields(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, {"params": {"model.hiden": {"choices": [[8], [16]]}}})
    with pytest.raises(ConfigError, match=r"model.hiden is not a config field. Did you mean 'hidden'\?"):
        check_space(spec)


def test_options_of_searched_presets_are_valid_paths(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, {"params": {"model.arch": {"choices": ["mlp", "cnn"]},
                                           "model.channels": {"choices": [[4], [8]], "when": {"model.arch": "cnn"}}}})
    check_space(spec)


@pytest.mark.parametrize("param, message", [
    ({"low": 1.0}, "needs either choices or both low and high"),
    ({"low": 0.0, "high": 1.0, "log": True}, "needs low > 0"),
    ({"low": 2.0, "high": 1.0}, "low must be below high"),
    ({"choices": []}, "non-empty"),
])
def test_bad_parameter_specs_are_refused(tmp_path: Path, param: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_run_spec(quick_spec(tmp_path, tune={"params": {"train.optimizer.lr": param}}))


def test_pruning_several_objectives_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tune.pruner must be 'none' with several tune.objectives"):
        parse_run_spec(quick_spec(tmp_path, tune={"objectives": ["metric", "params"], "pruner": "median", "nas": {}}))


def test_conditional_parameters_follow_their_condition(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, {"params": {
        "train.optimizer.name": {"choices": ["sgd", "adam"]},
        "train.optimizer.momentum": {"low": 0.0, "high": 0.95, "when": {"train.optimizer.name": "sgd"}},
        "train.optimizer.lr": {"low": 1e-4, "high": 1e-1, "log": True},
    }})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        params = sample_params(trial, spec.tune, spec.to_dict())
        assert ("train.optimizer.momentum" in params) == (params["train.optimizer.name"] == "sgd")
        assert 1e-4 <= params["train.optimizer.lr"] <= 1e-1
        seen.add(params["train.optimizer.name"])
        study.tell(trial, 0.0)
    assert seen == {"sgd", "adam"}


def test_applying_values_gives_a_valid_config_and_switching_preset_drops_foreign_options(tmp_path: Path) -> None:
    raw = quick_spec(tmp_path, data={"dataset": "digits", "view": "image"})
    out = apply_params(raw, {"model.arch": "cnn", "model.channels": [4], "train.optimizer.lr": 0.05})
    spec = parse_run_spec(out)
    assert spec.model.arch == "cnn" and spec.model.preset_options()["channels"] == [4]
    assert "hidden" not in spec.model.preset_options()
    assert spec.train.optimizer.lr == 0.05 and spec.tune is None


def test_grid_space_needs_choices_or_steps(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, {"sampler": "grid", "params": {"model.hidden": {"choices": [[4], [8]]},
                                                              "train.epochs": {"low": 2, "high": 6, "step": 2, "integer": True}}})
    assert grid_space(spec.tune) == {"model.hidden": ["[4]", "[8]"], "train.epochs": [2, 4, 6]}
    spec = spec_with(tmp_path, {"sampler": "grid", "params": {"train.optimizer.lr": {"low": 1e-3, "high": 1e-1}}})
    with pytest.raises(ConfigError, match="needs choices or a step"):
        grid_space(spec.tune)


@pytest.mark.parametrize("kind, shape", [("mlp", (64,)), ("cnn", (1, 8, 8))])
def test_nas_chains_build(tmp_path: Path, kind: str, shape: tuple) -> None:
    from lamina.config import ModelSpec
    from lamina.nn.build import build_model

    spec = spec_with(tmp_path, {"nas": {"kind": kind, "depth": [1, 4]}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    depths = set()
    for _ in range(8):
        trial = study.ask()
        chain = sample_chain(trial, spec.tune.nas, shape, 10)
        built = build_model(ModelSpec(layers=chain), shape, 10)
        assert built.params > 0
        depths.add(trial.params["nas.depth"])
        study.tell(trial, 0.0)
    assert len(depths) > 1
