"""A plain text file as a token stream, split by position, and random training windows from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lamina.errors import DataError
from lamina.lm.tokenize import Tokenizer, fit_tokenizer


@dataclass
class Corpus:
    """Token ids of the training part (the text's beginning) and of the validation part (its end)."""

    tokenizer: Tokenizer
    train: torch.Tensor  # (N_train,) int64
    val: torch.Tensor  # (N_val,) int64

    def characters(self, ids: torch.Tensor) -> int:
        """How many characters a contiguous run of token ids stands for (bits per character divide by this)."""
        return len(self.tokenizer.decode(ids))


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path``, with clear errors for a missing, unreadable or empty file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data.path {path} does not exist or is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"data.path {path} is not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise DataError(f"data.path {path} is empty")
    return text


def load_corpus(path: str | Path, val: float, context: int, tokenizer: str = "char", vocab_size: int | None = None,
                fitted: Tokenizer | None = None) -> Corpus:
    """Tokenize a text file and split it by position: the first ``1 - val`` trains, the rest validates.

    The tokenizer (``char`` or ``bpe`` with ``vocab_size`` ids) is fitted on the training part
    only, unless an already ``fitted`` one (a saved run's) is given. With characters, a
    validation character never seen in training is an error rather than a silent unknown token.
    """
    text = read_text(path)
    cut = int(len(text) * (1 - val))
    need = context + 1
    if cut < need or (val > 0 and len(text) - cut < need):
        raise DataError(f"data.path {path} holds {len(text)} characters: too few for a training and a validation "
                        f"part of at least {need} characters each (model.context + 1) with data.val={val}")
    fitted = fitted or fit_tokenizer(tokenizer, text[:cut], vocab_size or 0)
    corpus = Corpus(fitted, fitted.encode(text[:cut], f"{path} (training part)"),
                    fitted.encode(text[cut:], f"{path} (validation part, after character {cut})"))
    if min(len(corpus.train), len(corpus.val)) < need:
        raise DataError(f"data.path {path} holds {len(corpus.train)} training and {len(corpus.val)} validation tokens "
                        f"after {fitted.kind} tokenization: too few for windows of {need} tokens (model.context + 1)")
    return corpus


def random_windows(ids: torch.Tensor, context: int, batch: int, generator: torch.Generator | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` windows at random offsets: inputs (B, T) and the same shifted by one token as targets (B, T).

    ``generator`` None draws the offsets from torch's global generator (which checkpoints save).
    """
    starts = torch.randint(len(ids) - context, (batch,), generator=generator).to(ids.device)  # (B,), drawn on the CPU
    index = starts.unsqueeze(1) + torch.arange(context, device=ids.device)  # (B, T)
    return ids[index], ids[index + 1]


def tiled_windows(ids: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every token of ``ids`` as a target once: consecutive non-overlapping windows (B, T), the tail dropped."""
    count = (len(ids) - 1) // context
    x = ids[: count * context].view(count, context)  # (B, T)
    y = ids[1 : count * context + 1].view(count, context)  # (B, T)
    return x, y
