"""build_model: a model that cannot produce the data's kind of target is refused with a message naming the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import lamina
from lamina.errors import ConfigError
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
