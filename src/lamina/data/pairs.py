"""Paired sequences for seq2seq: builtin reversal and sorting tasks, and CSV files of source/target strings.

Text is split into characters. One vocabulary, built on the training rows only
and saved with the run, serves source and target; it starts with four special
tokens: ``<pad>`` (0), ``<unk>`` (tokens not seen in training), ``<bos>`` and
``<eos>``. Source and target lengths are the longest seen in training (longer
rows later are cut). A sample's model input is the padded source followed by the
decoder input (``<bos>`` and the target, shifted one step right); its label is
the target followed by ``<eos>``, padded: the pair teacher forcing trains on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lamina.config import DataSpec
from lamina.data.preprocess import InputPrep, Preprocessor, TargetPrep
from lamina.data.readers import read_csv
from lamina.data.splits import split_indices
from lamina.errors import ConfigError, DataError
from lamina.registry import DATASETS

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
PAIR_SETS: set[str] = set()


@dataclass
class PairData:
    """Raw pairs as read: each source and target a string, tokenized by characters."""

    sources: list[str]
    targets: list[str]
    source_name: str = "source"
    target_name: str = "target"


def pair_set(name: str) -> Callable[[Callable[[], PairData]], Callable[[], PairData]]:
    """Register a loader of :class:`PairData` as the builtin dataset ``name`` (a seq2seq task)."""

    def decorate(fn: Callable[[], PairData]) -> Callable[[], PairData]:
        PAIR_SETS.add(name)
        return DATASETS.add(name, fn)

    return decorate


def digit_pairs(rule: Callable[[str], str], n: int = 3000, length: int = 10, seed: int = 0) -> PairData:
    """``n`` distinct random digit strings of ``length``, each paired with ``rule`` applied to it."""
    rng = np.random.default_rng(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        for row in rng.integers(0, 10, (n, length)):
            seen.setdefault("".join(map(str, row)), None)
    sources = list(seen)[:n]
    return PairData(sources, [rule(s) for s in sources])


@pair_set("reverse")
def reverse() -> PairData:
    """Reverse a string of 10 digits: 3,000 distinct pairs (seq2seq; every test sequence unseen in training)."""
    return digit_pairs(lambda s: s[::-1])


@pair_set("sort")
def sort() -> PairData:
    """Sort a string of 10 digits: 3,000 distinct pairs (seq2seq; every test sequence unseen in training)."""
    return digit_pairs(lambda s: "".join(sorted(s)))


def is_pairs(spec: DataSpec) -> bool:
    """Whether the data spec names a seq2seq task (a builtin pair set, or data.task: seq2seq)."""
    return spec.task == "seq2seq" or spec.dataset in PAIR_SETS


def load_pairs(spec: DataSpec) -> PairData:
    """The pairs a spec names: a builtin pair set, or a CSV with the target column and one source column."""
    if spec.dataset is not None:
        data = DATASETS.get(spec.dataset)()
        if not isinstance(data, PairData):
            raise ConfigError(f"data.task 'seq2seq' needs paired sequences; dataset '{spec.dataset}' is not a pair set "
                              f"(pair sets: {', '.join(sorted(PAIR_SETS))})")
        return data
    path = Path(spec.path)
    if (spec.format if spec.format != "auto" else path.suffix.lower().lstrip(".")) != "csv":
        raise ConfigError(f"data.task 'seq2seq' reads a CSV of source and target strings; got {path}")
    table = read_csv(path)
    if not isinstance(spec.target, str):
        raise ConfigError("data.target must name the target text column of a seq2seq CSV "
                          f"(columns: {', '.join(table.columns)}); got {spec.target!r}")
    targets = table.column(spec.target, "target column")
    rest = [c for c in table.columns if c != spec.target and c not in spec.drop]
    if len(rest) != 1:
        raise DataError(f"{table.source}: a seq2seq CSV needs exactly one source column besides the target "
                        f"'{spec.target}'; found {rest or 'none'} (list others in data.drop)")
    sources = table.column(rest[0])
    empty = next((i for i, t in enumerate(targets) if not t), None)
    if empty is not None:
        raise DataError(f"{table.source} row {empty + 2}: target column '{spec.target}' is empty; every row needs a target")
    return PairData(sources, targets, rest[0], spec.target)


def fit_pairs(pairs: PairData, train: np.ndarray) -> Preprocessor:
    """The vocabulary and lengths of the training rows, as the run's preprocessing."""
    if len(train) == 0:
        raise DataError("seq2seq data has no training rows; it needs more pairs or smaller data.split fractions")
    seen = {ch for i in train for text in (pairs.sources[i], pairs.targets[i]) for ch in text}
    vocab = SPECIALS + sorted(seen)
    source_length = max(1, max(len(pairs.sources[i]) for i in train))
    target_length = max(len(pairs.targets[i]) for i in train) + 1  # room for <eos>
    inputs = InputPrep.for_tokens([source_length + target_length], vocab,
                                  {"kind": "chars", "source_length": source_length, "source": pairs.source_name})
    return Preprocessor(inputs, TargetPrep("seq2seq", [pairs.target_name], classes=vocab, length=target_length))


def encode_sources(prep: Preprocessor, sources: list[str]) -> np.ndarray:
    """Source strings as padded token ids (N, source length); unseen characters become ``<unk>``."""
    length = int(prep.inputs.tokenizer["source_length"])
    index = {t: i for i, t in enumerate(prep.inputs.vocab)}
    out = np.zeros((len(sources), length), dtype=np.int64)
    for r, text in enumerate(sources):
        ids = [index.get(ch, UNK) for ch in text[:length]]
        out[r, : len(ids)] = ids
    return out


def encode_pairs(prep: Preprocessor, pairs: PairData) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (N, S + T): source then ``<bos>`` + target; labels (N, T): target then ``<eos>``."""
    if prep.target.task != "seq2seq":
        raise DataError("this run was not trained on paired sequences; its preprocessing cannot encode them")
    length = prep.target.length
    index = {t: i for i, t in enumerate(prep.target.classes)}
    labels = np.zeros((len(pairs.targets), length), dtype=np.int64)
    for r, text in enumerate(pairs.targets):
        ids = [index.get(ch, UNK) for ch in text[: length - 1]] + [EOS]
        labels[r, : len(ids)] = ids
    decoder_in = np.concatenate([np.full((len(labels), 1), BOS), labels[:, :-1]], axis=1)  # shifted right
    decoder_in[decoder_in == EOS] = PAD  # <eos> is predicted, never fed
    return np.concatenate([encode_sources(prep, pairs.sources), decoder_in], axis=1), labels


def decode_ids(ids: list[int], vocab: list[str]) -> str:
    """Token ids back to text, up to the first ``<eos>``; padding and ``<bos>`` are skipped."""
    out = []
    for i in ids:
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(vocab[i] if 0 <= i < len(vocab) else SPECIALS[UNK])
    return "".join(out)


def prepare_pairs(spec: DataSpec, fitted: Preprocessor | None = None):
    """Load, split and encode paired sequences; the vocabulary is fitted on the training rows (or given)."""
    from lamina.data.prepare import Prepared, Split

    pairs = load_pairs(spec)
    train, val, test = split_indices(len(pairs.sources), None, spec.split.val, spec.split.test, spec.split.seed)
    prep = fitted or fit_pairs(pairs, train)
    x, y = encode_pairs(prep, pairs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def take(rows: np.ndarray) -> Split:
        index = torch.from_numpy(rows.astype(np.int64))
        return Split(xt[index], yt[index], rows)

    name = f"dataset '{spec.dataset}'" if spec.dataset is not None else str(spec.path)
    return Prepared(take(train), take(val), take(test), prep, name)
