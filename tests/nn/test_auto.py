"""model.arch: auto: the rules that pick a preset from the data, and auto against the hand-written examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import lamina
from lamina.config import parse_run_spec
from lamina.errors import ConfigError, ShapeError
from lamina.nn.auto import choose_model
from lamina.nn.build import build_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("shape", "vocab", "task", "section"), [
    ((4,), None, "multiclass", {"arch": "mlp", "hidden": [16]}),
    ((30,), None, "binary", {"arch": "mlp", "hidden": [128, 64]}),
    ((200,), None, "regression", {"arch": "mlp", "hidden": [256, 128]}),
    ((40,), 500, "binary", {"arch": "sequence", "cell": "gru", "embed_dim": 32, "units": 32}),
    ((300,), 500, "multiclass", {"arch": "sequence", "cell": "transformer", "units": 64, "depth": 2, "heads": 4}),
    ((48, 2), None, "regression", {"arch": "forecaster", "cell": "lstm", "units": 32}),
    ((20, 3), None, "multiclass", {"arch": "sequence", "cell": "gru", "units": 32}),
    ((1, 8, 8), None, "multiclass", {"arch": "cnn", "channels": [32, 64], "dense": [128], "dropout": 0.2}),
    ((3, 32, 32), None, "multiclass", {"arch": "resnet", "stem": 16, "widths": [16, 32, 64], "blocks": [1, 1, 1]}),
    ((3, 224, 160), None, "binary", {"arch": "resnet", "stem": 16, "widths": [16, 32, 64, 128],
                                     "blocks": [1, 1, 1, 1]}),
])
def test_choice_follows_the_data(shape, vocab, task, section):
    choice = choose_model(shape, vocab, task)
    assert choice.section == section
    line = choice.line()
    assert line.startswith(f"model: arch auto chose {section['arch']} (") and "because the inputs are" in line
    built = build_model(parse_run_spec({"data": {"dataset": "iris"}}).model, shape, 3, vocab, task=task)
    assert built.params == build_model(choice.spec, shape, 3, vocab, task=task).params  # auto builds the same model


def test_token_sequence_targets_get_seq2seq():
    choice = choose_model((12,), 14, "seq2seq", (6, 14))
    assert choice.section["arch"] == "seq2seq" and "targets are token sequences" in choice.line()
    built = build_model(parse_run_spec({"data": {"dataset": "iris"}}).model, (12,), (6, 14), 14, task="seq2seq")
    assert built.params == build_model(choice.spec, (12,), (6, 14), 14, task="seq2seq").params


def test_auto_config_rules():
    assert parse_run_spec({"data": {"dataset": "iris"}}).model.arch == "auto"  # no model section: auto
    with pytest.raises(ConfigError, match=r"model.hidden cannot be set with model.arch: auto"):
        parse_run_spec({"data": {"dataset": "iris"}, "model": {"arch": "auto", "hidden": [8]}})
    with pytest.raises(ShapeError, match="cannot pick a model for inputs shaped"):
        choose_model((2, 3, 4, 5))


# (example, metric, its figure as written (benchmarks/auto_arch.py, and the README table), arch auto picks there)
EXAMPLES = [
    ("iris_mlp", "accuracy", 1.0, "mlp"),
    ("digits_cnn", "accuracy", 0.994, "cnn"),
    ("text_csv", "accuracy", 0.9511, "sequence"),
    ("forecast_csv", "mae", 0.3176, "forecaster"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("example", "metric", "written", "arch"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_auto_trains_as_well_as_the_example(example, metric, written, arch, tmp_path, capsys):
    config = yaml.safe_load((ROOT / "examples" / f"{example}.yaml").read_text(encoding="utf-8"))
    del config["model"]  # the example's data and training settings, no model section
    config["runs_dir"] = str(tmp_path)
    config["train"].update(tensorboard=False, diagnose=False)
    if "path" in config["data"]:
        config["data"]["path"] = str(ROOT / config["data"]["path"])
    run = lamina.fit(config, progress="plain")
    assert f"model: arch auto chose {arch} (" in capsys.readouterr().err
    saved = yaml.safe_load(run.folder.config.read_text(encoding="utf-8"))["model"]
    assert saved["arch"] == arch  # the run folder records the concrete choice, and rebuilds from it
    assert lamina.load_run(run.folder.root).spec.model.arch == arch
    value = json.loads(run.folder.summary.read_text(encoding="utf-8"))["test"][metric]
    if metric == "accuracy":
        assert value >= written - 0.02, f"auto reached {value:.4f}, the example {written:.4f}"
    else:
        assert value <= written * 1.10, f"auto's {metric} is {value:.4f}, the example's {written:.4f}"
