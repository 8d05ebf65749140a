"""Language-model tokenizers, fitted on the training text only and saved as JSON with the run.

``char``: one id per distinct character (preprocess.json holds the characters).
``bpe``: byte-level byte-pair encoding from the ``tokenizers`` library, merges learned up to
``data.vocab_size`` (preprocess.json names it; tokenizer.json holds it in the library's own
JSON format). Byte-level means every string encodes, and decoding gives the text back exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.errors import DataError, RunFolderError
from lamina.files import atomic_write_text, read_json, write_json

BPE_FILE = "tokenizer.json"


class CharTokenizer:
    """Maps each character seen in training to an id (sorted by code point) and back."""

    kind = "char"

    def __init__(self, chars: list[str]) -> None:
        if not chars or len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise DataError(f"a character vocabulary must hold distinct single characters; got {len(chars)} entries")
        self.chars = list(chars)
        self.ids = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        """The vocabulary of ``text``: its distinct characters."""
        return cls(sorted(set(text)))

    @property
    def vocab(self) -> int:
        """How many ids there are."""
        return len(self.chars)

    def encode(self, text: str, where: str = "text") -> torch.Tensor:
        """Ids of ``text`` (1-D int64); characters outside the vocabulary are an error naming them.

        Code points map through one lookup table (a megabyte of text in a few milliseconds, where
        a Python loop over the characters takes a large part of a second).
        """
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # one code point per character
        table = np.full(max(int(codes.max(initial=0)), *(ord(c) for c in self.chars)) + 1, -1, dtype=np.int64)
        table[[ord(c) for c in self.chars]] = np.arange(len(self.chars))
        ids = table[codes]
        if (ids < 0).any():
            unknown = sorted(set(text) - self.ids.keys())
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise DataError(f"{where} holds characters the model never saw in training: {shown}"
                            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""))
        return torch.from_numpy(ids)

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        """The text of a sequence of ids (a tensor is read as one list first: indexing it per element is slow)."""
        return "".join(self.chars[i] for i in (ids.tolist() if isinstance(ids, torch.Tensor) else map(int, ids)))

    def to_json(self) -> dict[str, Any]:
        """Plain data for preprocess.json."""
        return {"tokenizer": self.kind, "chars": self.chars}

    @classmethod
    def from_json(cls, data: Any, source: str) -> CharTokenizer:
        """Rebuild from :meth:`to_json`'s data; anything else is a RunFolderError naming ``source``."""
        if not isinstance(data, dict) or data.get("tokenizer") != cls.kind or not isinstance(data.get("chars"), list):
            raise RunFolderError(f"{source} does not hold a character tokenizer (expected keys tokenizer='char', chars)")
        try:
            return cls(data["chars"])
        except (DataError, TypeError) as exc:
            raise RunFolderError(f"{source}: {exc}") from None


class BPETokenizer:
    """Byte-level BPE (a ``tokenizers.Tokenizer``): frequent byte sequences of the training text become one id."""

    kind = "bpe"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def fit(cls, text: str, vocab_size: int) -> BPETokenizer:
        """Learn merges on ``text`` until ``vocab_size`` ids (the 256 byte symbols included) or no pair repeats."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=[], show_progress=False)
        tokenizer.train_from_iterator([text], trainer)
        return cls(tokenizer)

    @property
    def vocab(self) -> int:
        """How many ids there are."""
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str, where: str = "text") -> torch.Tensor:
        """Ids of ``text`` (1-D int64); byte-level, so any string encodes (``where`` is kept for a common signature)."""
        return torch.tensor(self.tokenizer.encode(text).ids, dtype=torch.long)

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        """The text of a sequence of ids (exactly the encoded text when ``ids`` came from :meth:`encode`)."""
        return self.tokenizer.decode([int(i) for i in ids])

    def to_json(self) -> dict[str, Any]:
        """Plain data for preprocess.json; the merges themselves go to tokenizer.json."""
        return {"tokenizer": self.kind, "file": BPE_FILE, "vocab_size": self.vocab}

    @classmethod
    def read(cls, path: Path) -> BPETokenizer:
        """Load tokenizer.json (the library's JSON format, never pickle); a RunFolderError names a bad file."""
        from tokenizers import Tokenizer

        if not path.is_file():
            raise RunFolderError(f"{path} is missing: a BPE language-model run keeps its tokenizer there")
        try:
            return cls(Tokenizer.from_str(path.read_text(encoding="utf-8")))
        except Exception as exc:  # the library reports every parse problem as a plain Exception
            raise RunFolderError(f"{path} is not a tokenizers JSON file: {str(exc).splitlines()[0]}") from None


Tokenizer = CharTokenizer | BPETokenizer


def fit_tokenizer(kind: str, text: str, vocab_size: int) -> Tokenizer:
    """The tokenizer ``data.tokenizer`` names, fitted on ``text`` (the training part only)."""
    return BPETokenizer.fit(text, vocab_size) if kind == "bpe" else CharTokenizer.fit(text)


def save_tokenizer(tokenizer: Tokenizer, preprocess: Path) -> None:
    """Write preprocess.json (and, for BPE, tokenizer.json beside it), each atomically."""
    if isinstance(tokenizer, BPETokenizer):
        atomic_write_text(preprocess.parent / BPE_FILE, tokenizer.tokenizer.to_str())
    write_json(preprocess, tokenizer.to_json())


def load_tokenizer(preprocess: Path) -> Tokenizer:
    """The tokenizer :func:`save_tokenizer` wrote: preprocess.json says which kind, BPE reads tokenizer.json too."""
    data = read_json(preprocess)
    if isinstance(data, dict) and data.get("tokenizer") == BPETokenizer.kind:
        return BPETokenizer.read(preprocess.parent / BPE_FILE)
    return CharTokenizer.from_json(data, str(preprocess))
