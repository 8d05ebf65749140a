"""A classifier on frozen MiniLM features learns the topic set from 10 labels per class and survives a save."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.errors import DataError
from lamina.lm.fewshot import accuracy, k_shot_split
from lamina.lm.textsets import TOPICS
from lamina.lm.transfer import TextClassifier, fit_text_classifier


def test_frozen_features_classifier_learns_and_reloads(tmp_path: Path) -> None:
    train, test = k_shot_split(TOPICS, 10, seed=3)
    model = fit_text_classifier([t for t, _ in train], [y for _, y in train], epochs=40)
    texts, truth = [t for t, _ in test], [y for _, y in test]
    score = accuracy(model.predict(texts), truth)
    assert score >= 0.8  # chance is 0.25
    model.save(tmp_path / "clf")
    again = TextClassifier.load(tmp_path / "clf")
    assert again.predict(texts) == model.predict(texts)


def test_fine_tuning_the_top_block_keeps_it_learning() -> None:
    train, test = k_shot_split(TOPICS, 6, seed=4)
    model = fit_text_classifier([t for t, _ in train], [y for _, y in train], tune_blocks=1, epochs=4, batch_size=8)
    assert accuracy(model.predict([t for t, _ in test]), [y for _, y in test]) >= 0.7


def test_one_class_is_refused() -> None:
    with pytest.raises(DataError, match="at least 2 classes"):
        fit_text_classifier(["a", "b"], ["x", "x"])
