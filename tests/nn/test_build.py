"""build_model: a model that cannot produce the data's kind of target is refused with a message naming the fix."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import lamina
from lamina.errors import ConfigError, LaminaWarning
from tests.conftest import quick_spec


@pytest.mark.parametrize("model", [{"arch": "mlp"}, {"arch": "sequence"},
                                   {"layers": [{"embedding": 8}, {"lstm": 8}, {"dense": 14}]}])
def test_seq2seq_data_with_a_classifier_names_the_seq2seq_preset(tmp_path: Path, model: dict) -> None:
    spec = quick_spec(tmp_path, data={"dataset": "reverse"}, model=model)
    with pytest.raises(ConfigError, match=r"targets are token sequences \(length 11, vocabulary 14\).*model.arch: seq2seq"):
        lamina.build(spec)


def test_seq2seq_preset_builds_for_seq2seq_data(tmp_path: Path) -> None:
    spec = quick_spec(tmp_path, data={"dataset": "reverse"}, model={"arch": "seq2seq", "kind": "gru", "dim": 8})
    assert lamina.build(spec).params > 0


@pytest.mark.parametrize("dataset,last", [("iris", "softmax"), ("breast_cancer", "softmax"), ("breast_cancer", "sigmoid")])
def test_a_classifier_chain_ending_in_its_loss_activation_warns_naming_the_layer(tmp_path: Path, dataset: str,
                                                                                 last: str) -> None:
    outputs = 3 if dataset == "iris" else 1
    spec = quick_spec(tmp_path, data={"dataset": dataset}, model={"layers": [{"dense": 8}, "relu", {"dense": outputs}, last]})
    with pytest.warns(LaminaWarning, match=rf"model.layers\[3\] \({last}\) ends the chain, but the .* loss takes logits"):
        lamina.build(spec)


@pytest.mark.parametrize("dataset,last", [("iris", "sigmoid"), ("diabetes", "sigmoid"), ("iris", "relu")])
def test_an_output_activation_the_loss_does_not_apply_builds_without_a_warning(tmp_path: Path, dataset: str,
                                                                               last: str) -> None:
    outputs = 3 if dataset == "iris" else 1
    spec = quick_spec(tmp_path, data={"dataset": dataset}, model={"layers": [{"dense": 8}, "relu", {"dense": outputs}, last]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", LaminaWarning)
        assert lamina.build(spec).params > 0
