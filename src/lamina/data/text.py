"""Text columns as token ids: character and word tokenizers, a vocabulary fitted on training rows only.

The vocabulary is a list saved in the run's preprocess.json (``inputs.vocab``), with the tokenizer's
settings (``inputs.tokenizer``), so predictions tokenize new text exactly as training did. Id 0 is
padding and id 1 the unknown token; padding goes at the end and long texts are truncated.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from lamina.config import TextSpec
from lamina.data.readers import Table
from lamina.errors import DataError

PAD, UNKNOWN = "<pad>", "<unk>"
AUTO_LENGTH_CAP = 512
WORD = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str, tokenizer: dict[str, Any]) -> list[str]:
    """Split one text into tokens: words and punctuation marks, or single characters."""
    if tokenizer.get("lowercase", True):
        text = text.lower()
    return list(text) if tokenizer["kind"] == "char" else WORD.findall(text)


def fit_text(table: Table, spec: TextSpec, rows: np.ndarray) -> tuple[list[str], dict[str, Any], int]:
    """Fit the vocabulary and sequence length on the training ``rows``; returns (vocab, tokenizer, length)."""
    texts = table.column(spec.column, "text column")
    tokenizer = {"kind": spec.tokenizer, "column": spec.column, "lowercase": spec.lowercase}
    counts: Counter[str] = Counter()
    longest = 1
    for i in rows:
        tokens = tokenize(texts[i], tokenizer)
        counts.update(tokens)
        longest = max(longest, len(tokens))
    kept = sorted((t for t, c in counts.items() if c >= spec.min_count), key=lambda t: (-counts[t], t))
    if spec.max_vocab is not None:
        kept = kept[: spec.max_vocab - 2]
    if not kept:
        raise DataError(f"{table.source}: text column '{spec.column}' has no token seen {spec.min_count}+ times "
                        "in the training rows; lower data.text.min_count")
    length = min(longest, AUTO_LENGTH_CAP) if spec.max_length == "auto" else spec.max_length
    return [PAD, UNKNOWN, *kept], tokenizer, length


def encode_texts(texts: list[str], vocab: list[str], tokenizer: dict[str, Any], length: int) -> np.ndarray:
    """Token ids (N, length): unknown tokens map to 1, short texts are padded with 0, long ones truncated."""
    index = {token: i for i, token in enumerate(vocab)}
    out = np.zeros((len(texts), length), dtype=np.int64)
    for r, text in enumerate(texts):
        ids = [index.get(t, 1) for t in tokenize(text, tokenizer)[:length]]
        out[r, : len(ids)] = ids
    return out


def encode_table(table: Table, vocab: list[str], tokenizer: dict[str, Any], length: int) -> np.ndarray:
    """Token ids for the tokenizer's text column of ``table`` (a DataError names the column if it is absent)."""
    return encode_texts(table.column(tokenizer["column"], "text column"), vocab, tokenizer, length)
