"""Zero-shot (class descriptions) and 5-shot (prototypes) beat chance by 30+ points on lamina's topic set."""

from __future__ import annotations

from collections import Counter

import pytest

from lamina.errors import DataError
from lamina.lm.encoder import MiniLM
from lamina.lm.fewshot import accuracy, few_shot, k_shot_split, zero_shot
from lamina.lm.textsets import TOPIC_DESCRIPTIONS, TOPICS

CHANCE = 1 / len(TOPIC_DESCRIPTIONS)


@pytest.fixture(scope="module")
def embed():
    return MiniLM().embed


def test_the_set_is_big_and_balanced() -> None:
    counts = Counter(label for _, label in TOPICS)
    assert len(TOPICS) >= 100 and len(counts) >= 4 and set(counts.values()) == {30}
    assert len({text for text, _ in TOPICS}) == len(TOPICS)


def test_zero_shot_beats_chance_by_30_points(embed) -> None:
    predicted = zero_shot(embed, [t for t, _ in TOPICS], TOPIC_DESCRIPTIONS)
    assert accuracy(predicted, [y for _, y in TOPICS]) >= CHANCE + 0.30 + 0.2  # measured 0.95


@pytest.mark.parametrize("seed", [0, 1])
def test_five_shot_beats_chance_by_30_points(embed, seed: int) -> None:
    support, query = k_shot_split(TOPICS, 5, seed)
    assert Counter(y for _, y in support) == {name: 5 for name in TOPIC_DESCRIPTIONS}
    predicted = few_shot(embed, support, [t for t, _ in query])
    assert accuracy(predicted, [y for _, y in query]) >= CHANCE + 0.30 + 0.2  # measured 0.91-0.96


def test_too_few_examples_for_k_shot() -> None:
    with pytest.raises(DataError, match="too few of"):
        k_shot_split(TOPICS[:40], 11)
