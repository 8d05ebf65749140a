"""Config specs: validation messages, overrides, YAML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.config import apply_overrides, load_config, parse_run_spec, save_config
from lamina.errors import ConfigError

BASE = {"data": {"dataset": "iris"}, "model": {"arch": "mlp"}}


def _spec(**changes):
    raw = yaml.safe_load(yaml.safe_dump(BASE))
    for path, value in changes.items():
        apply_overrides(raw, [f"{path.replace('__', '.')}={yaml.safe_dump(value, default_flow_style=True).strip()}"])
    return parse_run_spec(raw)


def test_defaults_are_filled_in() -> None:
    spec = _spec()
    assert spec.train.optimizer.name == "adam" and spec.model.preset_options()["hidden"] == [128, 64]
    assert spec.data.split.test == 0.15


def test_unknown_key_suggests_close_name() -> None:
    with pytest.raises(ConfigError, match=r"data.datset is not a known field. Did you mean 'dataset'\?"):
        parse_run_spec({"data": {"datset": "iris"}, "model": {"arch": "mlp"}})


def test_unknown_registry_names_list_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"train.optimizer.name must be one of adam, adamw.*got 'adma'. Did you mean 'adam'"):
        _spec(train__optimizer__name="adma")
    with pytest.raises(ConfigError, match=r"model.arch must be one of cnn, .*mlp, .*resnet, .*vit; got 'resnt'"):
        _spec(model__arch="resnt")


def test_wrong_type_and_negative_size_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"train.epochs must be a valid integer.*got 'ten'"):
        _spec(train__epochs="ten")
    with pytest.raises(ConfigError, match=r"model.hidden\[1\] must be greater than 0; got -3"):
        _spec(model__hidden=[8, -3])


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as err:
        _spec(train__epochs=0, train__batch_size=-1)
    assert "2 problems" in str(err.value)
    assert "train.epochs must be greater than 0; got 0" in str(err.value)


def test_literal_choices_suggest_close_value() -> None:
    with pytest.raises(ConfigError, match=r"data.view must be 'auto', 'image' or 'flat'; got 'imgae'. Did you mean 'image'"):
        _spec(data__view="imgae")


def test_preset_option_typo() -> None:
    with pytest.raises(ConfigError, match=r"model.hiden is not a known field. Did you mean 'hidden'"):
        _spec(model__hiden=[3])


def test_data_needs_exactly_one_source() -> None:
    with pytest.raises(ConfigError, match="exactly one of data.dataset"):
        parse_run_spec({"data": {}, "model": {"arch": "mlp"}})


def test_overrides_set_nested_values_and_parse_yaml() -> None:
    raw = apply_overrides({"train": {}}, ["train.optimizer.lr=0.01", "model.hidden=[4, 5]", "name=x"])
    assert raw == {"train": {"optimizer": {"lr": 0.01}}, "model": {"hidden": [4, 5]}, "name": "x"}
    with pytest.raises(ConfigError, match="override must be key.path=value"):
        apply_overrides({}, ["oops"])


def test_load_config_errors_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty.yaml is empty"):
        load_config(empty)
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [1, 2\nmodel: x\n")
    with pytest.raises(ConfigError, match=r"broken.yaml is not valid YAML at line"):
        load_config(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_load_config_takes_plain_data_as_fit_does_and_leaves_it_unchanged() -> None:
    raw = {"name": "d", "data": {"dataset": "iris"}, "model": {"arch": "mlp", "hidden": [8]}}
    spec = load_config(raw, ["train.epochs=7"])
    assert spec.name == "d" and spec.train.epochs == 7 and spec.model.hidden == [8]
    assert "train" not in raw, "the caller's dict is not changed"
    with pytest.raises(ConfigError, match="config: data needs exactly one of"):
        load_config({"data": {}, "model": {"arch": "mlp"}})
    with pytest.raises(ConfigError, match="load_config takes the path of a YAML config or a dict.*got int"):
        load_config(42)


def test_saved_config_reloads_identically(tmp_path: Path) -> None:
    spec = _spec(model__hidden=[7], train__schedule__name="cosine")
    save_config(spec, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again == spec


@settings(max_examples=40, deadline=None)
@given(
    epochs=st.integers(1, 500),
    lr=st.floats(1e-6, 1.0),
    hidden=st.lists(st.integers(1, 512), min_size=0, max_size=4),
    optimizer=st.sampled_from(["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"]),
    dropout=st.floats(0, 0.9),
)
def test_yaml_round_trip_property(epochs: int, lr: float, hidden: list[int], optimizer: str, dropout: float) -> None:
    spec = parse_run_spec({
        "data": {"dataset": "wine"},
        "model": {"arch": "mlp", "hidden": hidden, "dropout": dropout},
        "train": {"epochs": epochs, "optimizer": {"name": optimizer, "lr": lr}},
    })
    assert parse_run_spec(yaml.safe_load(yaml.safe_dump(spec.to_dict()))) == spec


def _text_run(backbone: dict, text: dict | None) -> dict:
    data = {"path": "texts.csv", "target": "topic"} | ({"text": text} if text is not None else {})
    return {"data": data, "model": {"backbone": backbone}}


def test_pretrained_minilm_backbone_sets_its_tokenizer() -> None:
    spec = parse_run_spec(_text_run({"pretrained": "minilm"}, {"column": "text"}))
    assert spec.data.text.tokenizer == "minilm" and spec.model.backbone.run is None
    assert parse_run_spec(spec.to_dict()).data.text.tokenizer == "minilm"  # round-trips as config.yaml


@pytest.mark.parametrize("backbone, text, message", [
    ({"pretrained": "minilm", "run": "runs/a"}, {"column": "text"}, "exactly one of run"),
    ({}, {"column": "text"}, "exactly one of run"),
    ({"pretrained": "bert"}, {"column": "text"}, "pretrained"),
    ({"pretrained": "minilm"}, None, "data.text.column"),
    ({"pretrained": "minilm"}, {"column": "text", "tokenizer": "word"}, "data.text.tokenizer must be minilm"),
])
def test_pretrained_backbone_mistakes_are_named(backbone: dict, text: dict | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_run_spec(_text_run(backbone, text))
