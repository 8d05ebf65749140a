"""Builtin synthetic sequence tasks for tests and demos, generated with a fixed seed.

Each returns token ids (index 0 is padding) with a vocabulary, so sequence models
read them through an embedding. ``recall`` needs memory across a long delay,
which separates gated recurrent cells (lstm, gru) from a plain rnn.
"""

from __future__ import annotations

import numpy as np

from lamina.data.builtin import ArrayData, builtin

RECALL_SYMBOLS = ["a", "b", "c", "d"]
RECALL_NOISE = [f"n{i}" for i in range(8)]
RECALL_LENGTH = 60


def recall_task(n: int = 2000, length: int = RECALL_LENGTH, seed: int = 0) -> ArrayData:
    """Sequences whose label is their first token (a symbol), followed by ``length - 1`` distractor tokens.

    The distractors include the symbols themselves, so a model must store the first one and then
    ignore every later input: what gates do and a plain rnn's decaying gradient cannot learn. They
    are balanced so that every symbol occurs equally often in the whole sequence (the first one a
    time fewer among the distractors): with independent random distractors the first symbol would
    be the most frequent one on average, and a plain rnn learns to count (it scored 0.47 on four
    classes at 150 steps back) instead of failing to remember.
    """
    rng = np.random.default_rng(seed)
    vocab = ["<pad>", *RECALL_SYMBOLS, *RECALL_NOISE]
    symbols, distractors = len(RECALL_SYMBOLS), length - 1
    first = rng.integers(0, symbols, n)  # (N,)
    each = distractors // (len(vocab) - 1)  # occurrences of each symbol in the whole sequence
    if each == 0 and distractors >= symbols - 1:
        each = 1
    x = rng.integers(1 + symbols, len(vocab), (n, length))  # (N, T) noise ids
    for row in range(n):
        placed = [1 + s for s in range(symbols) for _ in range(each - (s == first[row]))]
        x[row, 1 + rng.permutation(distractors)[: len(placed)]] = placed
    x[:, 0] = 1 + first
    labels = np.asarray([RECALL_SYMBOLS[i] for i in first])
    return ArrayData(x.astype(np.int64), labels, "multiclass", [f"t{i}" for i in range(length)], ["first"],
                     list(RECALL_SYMBOLS), vocab=vocab)


@builtin("recall")
def recall() -> ArrayData:
    """Recall the first of 60 tokens after 59 noise tokens: 4 classes, long-term memory (2,000 samples)."""
    return recall_task()


def adding_task(n: int = 2000, length: int = 50, seed: int = 0) -> ArrayData:
    """The adding problem: (length, 2) steps of a random value and a marker; the target is the sum of the 2 marked values.

    One mark falls in the first half and one in the second, so the answer needs a memory of the whole sequence.
    """
    rng = np.random.default_rng(seed)
    values = rng.random((n, length))  # (N, T)
    marks = np.zeros((n, length))
    rows = np.arange(n)
    marks[rows, rng.integers(0, length // 2, n)] = 1.0
    marks[rows, rng.integers(length // 2, length, n)] = 1.0
    x = np.stack([values, marks], axis=-1).astype(np.float32)  # (N, T, 2)
    y = (values * marks).sum(axis=1)
    return ArrayData(x, y, "regression", ["value", "mark"], ["sum"], sequence=True)


@builtin("adding")
def adding() -> ArrayData:
    """Adding problem: sum the two marked values among 50 steps (regression, 2,000 samples)."""
    return adding_task()


POSITIVE_WORDS = ["good", "great", "excellent", "lovely", "superb", "fun", "charming", "brilliant"]
NEGATIVE_WORDS = ["bad", "awful", "boring", "dull", "terrible", "weak", "poor", "clumsy"]
FILLER_WORDS = ["the", "a", "movie", "film", "plot", "actors", "story", "was", "is", "and", "very", "really",
                "quite", "ending", "scenes", "music", "director", "cast", "it", "this", "of", "with", "script"]


def review_texts(n: int = 1200, seed: int = 0) -> tuple[list[str], list[str]]:
    """Generated movie reviews and their labels (pos/neg) by a learnable rule that needs word interactions.

    Each review mixes 4-16 filler words with 1 or 3 opinion words; the sign of the opinions' sum (an odd
    count: no ties) is the sentiment, flipped when the review also holds the word "not" (in 30% of
    them, anywhere). A linear bag of words (one weight per word) cannot express the flip and gets
    the flipped reviews wrong; a sequence model has to combine "not" with the opinions.
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(FILLER_WORDS, rng.integers(4, 17)))
        score = 0
        for _ in range(int(rng.choice([1, 3]))):
            positive = rng.random() < 0.5
            words.insert(int(rng.integers(0, len(words) + 1)),
                         str(rng.choice(POSITIVE_WORDS if positive else NEGATIVE_WORDS)))
            score += 1 if positive else -1
        if rng.random() < 0.3:
            words.insert(int(rng.integers(0, len(words) + 1)), "not")
            score = -score
        texts.append(" ".join(words).capitalize() + ".")
        labels.append("pos" if score > 0 else "neg")
    return texts, labels


def review_tokens(n: int = 1200, seed: int = 0) -> ArrayData:
    """The generated reviews as word ids (padded to the longest), with their vocabulary."""
    texts, labels = review_texts(n, seed)
    tokens = [text.lower().rstrip(".").split() for text in texts]
    vocab = ["<pad>", *sorted({t for words in tokens for t in words})]
    index = {t: i for i, t in enumerate(vocab)}
    x = np.zeros((n, max(map(len, tokens))), dtype=np.int64)
    for r, words in enumerate(tokens):
        x[r, : len(words)] = [index[t] for t in words]
    return ArrayData(x, np.asarray(labels), "binary", [f"w{i}" for i in range(x.shape[1])], ["sentiment"],
                     ["neg", "pos"], vocab=vocab)


@builtin("reviews")
def reviews() -> ArrayData:
    """Generated movie reviews, positive or negative by opinion words and negation (binary, 1,200 samples)."""
    return review_tokens()


def seasonal_series(steps: int = 1200, series: int = 1, period: int = 24, noise: float = 0.3,
                    seed: int = 0) -> np.ndarray:
    """Noisy seasonal series (steps, series): a daily-like cycle and its harmonic, a slow trend, AR(1) noise.

    The noise is autocorrelated (coefficient 0.6), so recent steps carry information that the
    seasonal-naive forecast (repeat the last cycle) ignores and a learned model can use.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]  # (T, 1)
    level = rng.uniform(5, 15, series)
    amplitude = rng.uniform(1.5, 3.0, series)
    phase = rng.uniform(0, 2 * np.pi, series)
    cycle = amplitude * np.sin(2 * np.pi * t / period + phase) + 0.5 * amplitude * np.sin(4 * np.pi * t / period)
    trend = t * rng.uniform(-0.002, 0.002, series)
    shocks = rng.normal(0, noise, (steps, series))
    ar = np.zeros((steps, series))
    for i in range(1, steps):
        ar[i] = 0.6 * ar[i - 1] + shocks[i]
    return level + cycle + trend + ar  # (T, S)


@builtin("seasonal")
def seasonal() -> ArrayData:
    """Forecast 12 steps of a noisy seasonal series from the 48 before (1,500 independent series; regression)."""
    window, horizon, n = 48, 12, 1500
    rng = np.random.default_rng(1)
    x = np.stack([seasonal_series(window + horizon, 1, seed=int(s))[:, 0] for s in rng.integers(0, 2**31, n)])
    return ArrayData(x[:, :window, None].astype(np.float32), x[:, window:], "regression", ["value"],
                     [f"t+{h + 1}" for h in range(horizon)], sequence=True)
