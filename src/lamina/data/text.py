"""Text columns as token ids: character and word tokenizers, a vocabulary fitted on training rows only.

The vocabulary is a list saved in the run's preprocess.json (``inputs.vocab``), with the tokenizer's
settings (``inputs.tokenizer``), so predictions tokenize new text exactly as training did. Id 0 is
padding and id 1 the unknown token; padding goes at the end and long texts are truncated.

The ``minilm`` tokenizer is the pretrained MiniLM encoder's WordPiece tokenizer (its [PAD] is id 0 too):
its whole tokenizer.json is kept in ``inputs.tokenizer.json``, so a run folder tokenizes without the
``text`` extra installed.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from lamina.config import TextSpec
from lamina.data.readers import Table
from lamina.errors import ConfigError, DataError

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
    if spec.tokenizer == "minilm":
        return fit_wordpiece(table, spec, rows)
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


def fit_wordpiece(table: Table, spec: TextSpec, rows: np.ndarray) -> tuple[list[str], dict[str, Any], int]:
    """The packaged MiniLM tokenizer (nothing to fit) and the sequence length: the longest training text in word
    pieces with [CLS] and [SEP] ('auto'), at most the encoder's 256."""
    from lamina.nn.minilm import MAX_TOKENS, packaged_tokenizer_json

    if spec.max_length != "auto" and spec.max_length > MAX_TOKENS:
        raise ConfigError(f"data.text.max_length must be at most {MAX_TOKENS} with the minilm tokenizer; "
                          f"got {spec.max_length}")
    text = packaged_tokenizer_json()
    vocab_size = _wordpiece(text, None).get_vocab_size()
    tokenizer = {"kind": "minilm", "column": spec.column, "json": text, "vocab_size": vocab_size}
    if spec.max_length != "auto":
        return [], tokenizer, spec.max_length
    texts = table.column(spec.column, "text column")
    pieces = _wordpiece(text, MAX_TOKENS).encode_batch([texts[i] for i in rows])
    return [], tokenizer, max([len(e.ids) for e in pieces] + [2])


def _wordpiece(text: str, length: int | None) -> Any:
    """A ``tokenizers`` Tokenizer from its JSON, without padding, truncating at ``length`` pieces."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(text)
    tokenizer.no_padding()
    if length is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(length)
    return tokenizer


def encode_texts(texts: list[str], vocab: list[str], tokenizer: dict[str, Any], length: int) -> np.ndarray:
    """Token ids (N, length): unknown tokens map to 1, short texts are padded with 0, long ones truncated."""
    if tokenizer["kind"] == "minilm":
        out = np.zeros((len(texts), length), dtype=np.int64)
        for r, encoding in enumerate(_wordpiece(tokenizer["json"], length).encode_batch(list(texts))):
            out[r, : len(encoding.ids)] = encoding.ids
        return out
    index = {token: i for i, token in enumerate(vocab)}
    out = np.zeros((len(texts), length), dtype=np.int64)
    for r, text in enumerate(texts):
        ids = [index.get(t, 1) for t in tokenize(text, tokenizer)[:length]]
        out[r, : len(ids)] = ids
    return out


def encode_table(table: Table, vocab: list[str], tokenizer: dict[str, Any], length: int) -> np.ndarray:
    """Token ids for the tokenizer's text column of ``table`` (a DataError names the column if it is absent)."""
    return encode_texts(table.column(tokenizer["column"], "text column"), vocab, tokenizer, length)
