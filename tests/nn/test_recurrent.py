"""Sequence presets do what they are for: gated cells remember 50+ steps back, text and forecasting are learned."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from lamina.data.synthetic import review_texts, seasonal_series
from lamina.trainer import train

CHANCE = 0.25  # recall: four equally likely symbols


def _train(tmp_path: Path, name: str, data: dict, model: dict, epochs: int, lr: float, batch: int = 32, **train_extra):
    spec = {"name": name, "seed": 0, "runs_dir": str(tmp_path), "data": data, "model": model,
            "train": {"epochs": epochs, "batch_size": batch, "optimizer": {"lr": lr}, "tensorboard": False,
                      **train_extra}}
    run = train(spec, progress="none")
    return json.loads(run.folder.summary.read_text())


@pytest.fixture(scope="module")
def recall_accuracy(tmp_path_factory):
    """Test accuracy on the recall task (answer 59 steps back) of each cell, same size and training."""
    root = tmp_path_factory.mktemp("recall")
    model = {"arch": "sequence", "units": 32, "embed_dim": 8}
    return {cell: _train(root, cell, {"dataset": "recall"}, {**model, "cell": cell}, 8, 0.01)["test"]["accuracy"]
            for cell in ("lstm", "gru", "rnn")}


def test_lstm_and_gru_remember_a_token_59_steps_back(recall_accuracy) -> None:
    assert recall_accuracy["lstm"] >= 0.95
    assert recall_accuracy["gru"] >= 0.95


def test_plain_rnn_of_the_same_size_stays_near_chance(recall_accuracy) -> None:
    assert recall_accuracy["rnn"] <= CHANCE + 0.1
