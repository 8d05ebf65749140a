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
    """Sequences whose label is their first token (a symbol), followed by ``length - 1`` random tokens.

    The later tokens include the symbols themselves, so a model must store the first one and then
    ignore every later input: what gates do and a plain rnn's decaying gradient cannot learn.
    """
    rng = np.random.default_rng(seed)
    vocab = ["<pad>", *RECALL_SYMBOLS, *RECALL_NOISE]
    first = rng.integers(0, len(RECALL_SYMBOLS), n)  # (N,)
    x = rng.integers(1, len(vocab), (n, length))  # (N, T) noise ids, symbols among them
    x[:, 0] = 1 + first
    labels = np.asarray([RECALL_SYMBOLS[i] for i in first])
    return ArrayData(x.astype(np.int64), labels, "multiclass", [f"t{i}" for i in range(length)], ["first"],
                     list(RECALL_SYMBOLS), vocab=vocab)


@builtin("recall")
def recall() -> ArrayData:
    """Recall the first of 60 tokens after 59 noise tokens: 4 classes, long-term memory (2,000 samples)."""
    return recall_task()
