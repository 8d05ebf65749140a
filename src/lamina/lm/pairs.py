"""Preference pairs from the user's JSON Lines file: one ``{"prompt": ..., "chosen": ..., "rejected": ...}`` a line.

Every line is checked before training; the first bad one is one error naming the file, the line
number and the field (not JSON, not an object, a key missing or unknown, a value that is not a
non-empty string). Blank lines are skipped; a file without pairs is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from lamina.errors import DataError
from lamina.lm.tokenize import Tokenizer

FIELDS = ("prompt", "chosen", "rejected")


@dataclass
class Pair:
    """One preference: for ``prompt``, ``chosen`` is preferred over ``rejected``."""

    prompt: str
    chosen: str
    rejected: str


def read_pairs(path: str | Path) -> list[Pair]:
    """The pairs of a JSONL file, validated line by line (see the module's docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"preference.pairs {path} does not exist or is not a file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"preference.pairs {path} is not UTF-8 text (bad byte at offset {exc.start})") from None
    pairs = [_pair(line, path, number) for number, line in enumerate(lines, 1) if line.strip()]
    if not pairs:
        raise DataError(f"preference.pairs {path} holds no pairs: expected one JSON object a line with "
                        f"keys {', '.join(FIELDS)}")
    return pairs


def _pair(line: str, path: Path, number: int) -> Pair:
    where = f"preference.pairs {path} line {number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where} is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise DataError(f"{where} must be a JSON object with keys {', '.join(FIELDS)}; got {type(row).__name__}")
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise DataError(f"{where} has unknown key {unknown[0]!r}; the keys are {', '.join(FIELDS)}")
    missing = [field for field in FIELDS if field not in row]
    if missing:
        raise DataError(f"{where} has no {missing[0]!r} key; each line needs {', '.join(FIELDS)}")
    for field in FIELDS:
        value = row[field]
        if not isinstance(value, str):
            raise DataError(f"{where} field {field!r} must be a string; got {type(value).__name__} {value!r:.40}")
        if not value.strip():
            raise DataError(f"{where} field {field!r} must not be empty")
    if row["chosen"] == row["rejected"]:
        raise DataError(f"{where}: 'chosen' and 'rejected' are the same text; a pair must prefer one of two endings")
    return Pair(row["prompt"], row["chosen"], row["rejected"])


def write_pairs(path: str | Path, pairs: list[Pair]) -> None:
    """Write pairs as JSON Lines (atomically), the format :func:`read_pairs` reads."""
    from lamina.files import atomic_write_text

    atomic_write_text(Path(path), "".join(json.dumps({f: getattr(p, f) for f in FIELDS}) + "\n" for p in pairs))


def pair_tensors(pairs: list[Pair], tokenizer: Tokenizer, context: int, source: str = "preference.pairs"
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs as the loop's batches: ids (N, 2, L) of prompt + chosen / rejected + newline, and lengths (N, 3).

    The lengths are the prompt's tokens and each whole sequence's; rows are zero-padded after their
    end. A sequence longer than ``context + 1`` tokens (the model reads ``context`` and predicts the
    next) or with characters outside the tokenizer's vocabulary is an error naming the pair.
    """
    rows, lengths = [], []
    for number, p in enumerate(pairs, 1):
        where = f"{source} pair {number}"
        prompt = tokenizer.encode(p.prompt, f"{where} field 'prompt'")
        ends = [tokenizer.encode(text + "\n", f"{where} field {field!r}")
                for field, text in (("chosen", p.chosen), ("rejected", p.rejected))]
        for field, end in zip(("chosen", "rejected"), ends):
            if len(prompt) + len(end) > context + 1:
                raise DataError(f"{where}: prompt + {field} is {len(prompt) + len(end)} tokens; the reference model "
                                f"reads at most model.context + 1 = {context + 1}")
        rows.append([torch.cat([prompt, end]) for end in ends])
        lengths.append([len(prompt), *(len(prompt) + len(end) for end in ends)])
    width = max(len(seq) for row in rows for seq in row)
    ids = torch.zeros(len(rows), 2, width, dtype=torch.long)
    for i, row in enumerate(rows):
        for j, seq in enumerate(row):
            ids[i, j, : len(seq)] = seq
    return ids, torch.tensor(lengths, dtype=torch.long)
