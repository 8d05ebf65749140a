"""Seq2seq presets trained through the normal loop: attention helps an LSTM.

The Transformer's >= 95% exact match on unseen reversals is asserted on examples/reverse_transformer.yaml
(tests/e2e/test_examples.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.config import parse_run_spec
from lamina.errors import ShapeError
from lamina.nn.build import build_model
from lamina.trainer import train


def _train(tmp_path: Path, name: str, model: dict, epochs: int, dataset: str = "reverse", **train_options) -> dict:
    """Train a seq2seq run on a builtin pair set; return its summary (test metrics decode unseen sources)."""
    run = train({"name": name, "runs_dir": str(tmp_path), "data": {"dataset": dataset},
                 "model": {"arch": "seq2seq", "dropout": 0.0, **model},
                 "train": {"epochs": epochs, "batch_size": 32, "tensorboard": False, **train_options}},
                progress="none")
    return json.loads(run.folder.summary.read_text())


def test_lstm_with_attention_beats_the_same_lstm_without(tmp_path: Path) -> None:
    model = {"kind": "lstm", "dim": 32, "units": 64, "depth": 1}
    attended = _train(tmp_path, "att", {**model, "attention": "additive"}, 2, optimizer={"lr": 0.005})["test"]
    plain = _train(tmp_path, "plain", {**model, "attention": "none"}, 2, optimizer={"lr": 0.005})["test"]
    assert attended["exact_match"] >= 0.8
    assert attended["exact_match"] >= plain["exact_match"] + 0.4
    assert attended["token_accuracy"] > plain["token_accuracy"]


def test_seq2seq_preset_refuses_data_that_is_not_paired() -> None:
    spec = parse_run_spec({"data": {"dataset": "iris"}, "model": {"arch": "seq2seq"}})
    with pytest.raises(ShapeError, match="model.arch 'seq2seq' needs paired sequences"):
        build_model(spec.model, (4,), 3)
