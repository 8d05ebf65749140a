"""Character tokenizer: one id per distinct character of the training text, saved as JSON with the run."""

from __future__ import annotations

from typing import Any

import torch

from lamina.errors import DataError, RunFolderError


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
        """Ids of ``text`` (1-D int64); characters outside the vocabulary are an error naming them."""
        unknown = sorted(set(text) - self.ids.keys())
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise DataError(f"{where} holds characters the model never saw in training: {shown}"
                            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""))
        return torch.tensor([self.ids[c] for c in text], dtype=torch.long)

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        """The text of a sequence of ids."""
        return "".join(self.chars[int(i)] for i in ids)

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
