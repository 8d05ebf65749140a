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
    summary = json.loads(run.folder.summary.read_text())
    print(f"{name}: test {summary['test']} baseline {summary.get('baseline')}")  # the figures, with pytest -s
    return summary


@pytest.fixture(scope="module")
def recall_accuracy(tmp_path_factory):
    """Test accuracy on the recall task (answer 59 steps back) of each cell, same size and training."""
    root = tmp_path_factory.mktemp("recall")
    model = {"arch": "sequence", "units": 32, "embed_dim": 8}
    return {cell: _train(root, cell, {"dataset": "recall"}, {**model, "cell": cell}, 10, 0.01)["test"]["accuracy"]
            for cell in ("lstm", "gru", "rnn")}


def test_lstm_and_gru_remember_a_token_59_steps_back(recall_accuracy) -> None:
    assert recall_accuracy["lstm"] >= 0.95
    assert recall_accuracy["gru"] >= 0.95


def test_plain_rnn_of_the_same_size_stays_near_chance(recall_accuracy) -> None:
    assert recall_accuracy["rnn"] <= CHANCE + 0.1


@pytest.fixture(scope="module")
def seasonal_csv(tmp_path_factory) -> Path:
    """Two noisy seasonal series (24-step cycle), 1,000 steps, as a CSV with one column per series."""
    values = seasonal_series(1000, 2, seed=0)
    path = tmp_path_factory.mktemp("series") / "seasonal.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b"])
        writer.writerows(values.tolist())
    return path


@pytest.mark.parametrize(("cell", "epochs", "lr"), [("lstm", 12, 0.01), ("transformer", 8, 0.003)])
def test_forecasters_beat_the_seasonal_naive_baseline(seasonal_csv: Path, tmp_path: Path, cell: str, epochs: int,
                                                      lr: float) -> None:
    data = {"path": str(seasonal_csv), "series": {"window": 48, "horizon": 12, "season": 24, "stride": 2}}
    summary = _train(tmp_path, cell, data, {"arch": "forecaster", "cell": cell, "units": 32}, epochs, lr)
    naive = summary["baseline"]["seasonal_naive_mae"]
    assert summary["test"]["mae"] < 0.95 * naive, (summary["test"], summary["baseline"])


@pytest.fixture(scope="module")
def reviews_csv(tmp_path_factory) -> Path:
    """1,500 generated reviews (pos/neg by opinion words, flipped by "not") as a text CSV."""
    texts, labels = review_texts(1500, seed=0)
    path = tmp_path_factory.mktemp("text") / "reviews.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment"])
        writer.writerows(zip(texts, labels))
    return path


def test_a_linear_bag_of_words_cannot_learn_the_review_rule(reviews_csv: Path) -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, labels = review_texts(1500, seed=0)
    counts = CountVectorizer().fit_transform(texts)
    bag = LogisticRegression(max_iter=1000).fit(counts[:1200], labels[:1200])
    accuracy = bag.score(counts[1200:], labels[1200:])
    print(f"bag of words: test accuracy {accuracy:.3f}")
    assert accuracy < 0.8  # the flip by "not" needs word interactions


@pytest.mark.parametrize(("cell", "model", "epochs"), [("gru", {"units": 32}, 10),
                                                       ("transformer", {"units": 32, "depth": 2, "dropout": 0.1}, 12)])
def test_gru_and_transformer_learn_the_review_rule(reviews_csv: Path, tmp_path: Path, cell: str, model: dict,
                                                   epochs: int) -> None:
    data = {"path": str(reviews_csv), "target": "sentiment", "text": {"column": "review"}}
    summary = _train(tmp_path, cell, data, {"arch": "sequence", "cell": cell, **model}, epochs, 0.003)
    assert summary["test"]["accuracy"] >= 0.9
