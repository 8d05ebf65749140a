"""Preprocessing fitted on the training split only and saved with the run as JSON.

Inputs are either a *table* (CSV columns: numeric ones imputed and scaled,
categorical ones one-hot encoded) or an *array* (NPZ or builtin arrays:
imputed and scaled per feature, or globally for images). Targets are label
encoded (classification) or standardized (regression). ``to_json`` and
``from_json`` make the run folder self-contained: predict applies exactly
the transform that training fitted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lamina.data.readers import Table, is_missing, parse_float
from lamina.errors import DataError, RunFolderError


@dataclass
class Column:
    """How one CSV column becomes model inputs."""

    name: str
    kind: str  # "numeric" | "categorical" (one-hot) | "category_index" (1 + category index, 0 if unseen; for embeddings)
    fill: Any = None
    mean: float = 0.0
    std: float = 1.0
    categories: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        """Number of model inputs this column produces."""
        return len(self.categories) if self.kind == "categorical" else 1


@dataclass
class InputPrep:
    """The fitted input transform (table or array) and the model input shape it produces."""

    kind: str  # "table" | "array" | "tokens" | "series"
    shape: list[int]
    missing: str = "impute"
    columns: list[Column] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    fill: list[float] = field(default_factory=list)
    offset: list[float] = field(default_factory=list)
    divisor: list[float] = field(default_factory=list)
    vocab: list[str] = field(default_factory=list)
    tokenizer: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ fitting

    @classmethod
    def fit_table(cls, table: Table, names: list[str], rows: np.ndarray, categorical: set[str],
                  numeric: set[str], missing: str, scale: str, encoding: str = "onehot") -> InputPrep:
        """Decide each column's kind, then fit imputation, scaling and categories on ``rows``.

        ``encoding`` 'embedding' gives each categorical column one input holding its category's index
        (for an embedding layer) instead of one-hot columns.
        """
        columns = []
        for name in names:
            values = table.column(name)
            numbers = _numbers(values) if name not in categorical else None
            if name in numeric:
                numbers = _numbers_or_error(values, table.source, name)
            if numbers is None:
                train = [values[i] for i in rows if not is_missing(values[i])]
                if missing == "reject":
                    _reject_missing(values, table.source, name)
                cats = sorted(set(train))
                fill = max(cats, key=train.count) if cats else ""
                kind = "category_index" if encoding == "embedding" else "categorical"
                columns.append(Column(name, kind, fill=fill, categories=cats))
            else:
                train = numbers[rows]
                if missing == "reject":
                    _reject_missing(values, table.source, name)
                finite = train[np.isfinite(train)]
                fill = float(np.median(finite)) if finite.size else 0.0
                train = np.where(np.isfinite(train), train, fill)
                mean, std = _scaling(train, scale)
                columns.append(Column(name, "numeric", fill=fill, mean=mean, std=std))
        width = sum(c.width for c in columns)
        return cls("table", [width], missing, columns=columns)

    @classmethod
    def fit_array(cls, x: np.ndarray, rows: np.ndarray, shape: list[int], names: list[str],
                  missing: str, scale: str, where: str) -> InputPrep:
        """Fit per-feature imputation and scaling (global for images) on the training rows of ``x``."""
        flat = x.reshape(len(x), -1).astype(np.float64)
        if missing == "reject" and not np.isfinite(flat).all():
            row, col = np.argwhere(~np.isfinite(flat))[0]
            raise DataError(f"{where} has a missing or infinite value at sample {row}, feature {names[col]} "
                            "and data.missing is 'reject'")
        train = flat[rows]
        fill = np.nanmedian(np.where(np.isfinite(train), train, np.nan), axis=0) if train.size else np.zeros(flat.shape[1])
        fill = np.nan_to_num(fill)
        train = np.where(np.isfinite(train), train, fill)
        image = len(shape) >= 2
        if scale == "auto":
            scale = "minmax" if image else "standard"
        if image and scale != "none":
            offset, divisor = _scaling(train.ravel(), scale)
            offsets, divisors = [offset] * flat.shape[1], [divisor] * flat.shape[1]
        else:
            pairs = [_scaling(train[:, j], scale) for j in range(flat.shape[1])]
            offsets, divisors = [p[0] for p in pairs], [p[1] for p in pairs]
        return cls("array", shape, missing, feature_names=names, fill=fill.tolist(), offset=offsets, divisor=divisors)

    @classmethod
    def for_tokens(cls, shape: list[int], vocab: list[str], tokenizer: dict[str, Any] | None = None) -> InputPrep:
        """Token-id inputs of ``shape`` (length,) into ``vocab`` (index 0 is padding): passed through unscaled."""
        return cls("tokens", list(shape), vocab=list(vocab), tokenizer=dict(tokenizer or {}))

    @property
    def vocab_size(self) -> int | None:
        """Number of token ids for token inputs (an embedding's vocab), None for numeric inputs."""
        return len(self.vocab) if self.kind == "tokens" else None

    @property
    def category_sizes(self) -> list[list[int]] | None:
        """[[input position, category count], ...] for categorical columns encoded as indices, else None."""
        sizes, position = [], 0
        for col in self.columns:
            if col.kind == "category_index":
                sizes.append([position, len(col.categories) + 1])  # index 0: unseen or missing
            position += col.width
        return sizes or None

    # ------------------------------------------------------------ applying

    def transform_table(self, table: Table) -> np.ndarray:
        """Apply the fitted transform to a table holding (at least) the training columns."""
        if self.kind == "tokens" and self.tokenizer.get("kind") in ("word", "char"):  # a text column (data.text)
            from lamina.data.text import encode_table

            return encode_table(table, self.vocab, self.tokenizer, self.shape[0])
        if self.kind == "series":
            from lamina.data.series import latest_windows

            return latest_windows(table, self)
        if self.kind == "array":
            block = np.stack([_numbers_or_error(table.column(n, "feature column"), table.source, n)
                              for n in self.feature_names], axis=1) if self.feature_names else np.zeros((table.rows, 0))
            return self.transform_array(block, table.source)
        parts = []
        for col in self.columns:
            values = table.column(col.name, "feature column")
            if self.missing == "reject":
                _reject_missing(values, table.source, col.name)
            if col.kind == "numeric":
                numbers = _numbers_or_error(values, table.source, col.name)
                numbers = np.where(np.isfinite(numbers), numbers, col.fill)
                parts.append(((numbers - col.mean) / col.std)[:, None])
            elif col.kind == "category_index":
                index = {c: i + 1 for i, c in enumerate(col.categories)}
                parts.append(np.asarray([index.get(col.fill if is_missing(v) else v, 0) for v in values],
                                        dtype=np.float64)[:, None])
            else:
                index = {c: i for i, c in enumerate(col.categories)}
                onehot = np.zeros((len(values), len(col.categories)))
                for r, v in enumerate(values):
                    j = index.get(col.fill if is_missing(v) else v)
                    if j is not None:
                        onehot[r, j] = 1.0
                parts.append(onehot)
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, which prediction refuses by row and column
            return np.concatenate(parts, axis=1).astype(np.float32)

    def transform_array(self, x: np.ndarray, where: str) -> np.ndarray:
        """Apply the fitted transform to raw arrays of ``(N, *sample_shape)`` or ``(N, features)``."""
        if self.kind == "table":
            raise DataError(f"{where}: this run was trained on CSV columns; give predictions a CSV file")
        if self.kind == "tokens":
            return _token_ids(np.asarray(x), self.shape, len(self.vocab), where)
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise DataError(f"{where} holds {x.dtype} values; the model needs numbers")
        n_features = len(self.offset)
        if x.ndim < 1 or x[0:1].size and x.reshape(len(x), -1).shape[1] != n_features:
            got = x.shape[1:] if x.ndim > 1 else ()
            raise DataError(f"{where}: each sample must have {n_features} values (shape {tuple(self.shape)}); "
                            f"got samples of shape {got}")
        flat = x.reshape(len(x), -1).astype(np.float64)
        bad = ~np.isfinite(flat)
        if bad.any():
            if self.missing == "reject":
                row, col = np.argwhere(bad)[0]
                raise DataError(f"{where} has a missing value at sample {row}, feature {col}")
            flat = np.where(bad, np.asarray(self.fill), flat)
        out = (flat - np.asarray(self.offset)) / np.asarray(self.divisor)
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, which prediction refuses by row and column
            return out.astype(np.float32).reshape(len(x), *self.shape)


@dataclass
class TargetPrep:
    """The fitted target transform: class names, or per-output mean and std for regression."""

    task: str  # "binary" | "multiclass" | "regression" | "seq2seq"
    names: list[str]
    classes: list[str] = field(default_factory=list)  # seq2seq: the token vocabulary
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    length: int = 0  # seq2seq: target tokens per sample, <eos> included

    @property
    def n_outputs(self) -> int:
        """Width of the model's output layer (seq2seq: per target step, the vocabulary size)."""
        if self.task in ("multiclass", "seq2seq"):
            return len(self.classes)
        return 1 if self.task == "binary" else len(self.names)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one sample's model output: (n_outputs,), or (target length, vocabulary) for seq2seq."""
        return (self.length, len(self.classes)) if self.task == "seq2seq" else (self.n_outputs,)

    def encode(self, y: np.ndarray, where: str) -> np.ndarray:
        """Class indices (int64) or standardized values (float32, shape (N, outputs))."""
        if self.task == "regression":
            values = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
            return ((values - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)
        index = {c: i for i, c in enumerate(self.classes)}
        labels = [str(v) for v in np.asarray(y).ravel()]
        unknown = [v for v in labels if v not in index]
        if unknown:
            raise DataError(f"{where}: label {unknown[0]!r} was not seen in training; known: {', '.join(self.classes)}")
        codes = np.array([index[v] for v in labels], dtype=np.int64)
        return codes.astype(np.float32)[:, None] if self.task == "binary" else codes

    def decode_values(self, outputs: np.ndarray) -> np.ndarray:
        """Regression outputs back in the target's own units."""
        return outputs * np.asarray(self.std) + np.asarray(self.mean)


@dataclass
class Preprocessor:
    """Inputs and target transforms together: the content of the run's preprocess.json."""

    inputs: InputPrep
    target: TargetPrep

    def to_json(self) -> dict[str, Any]:
        """Plain data for preprocess.json."""
        return {"format": "lamina-preprocess-1", "inputs": asdict(self.inputs), "target": asdict(self.target)}

    @classmethod
    def from_json(cls, data: Any, where: str) -> Preprocessor:
        """Rebuild from preprocess.json, refusing files that lamina did not write."""
        try:
            if data.get("format") != "lamina-preprocess-1":
                raise KeyError("format")
            inputs = dict(data["inputs"])
            inputs["columns"] = [Column(**c) for c in inputs.get("columns", [])]
            return cls(InputPrep(**inputs), TargetPrep(**data["target"]))
        except (AttributeError, KeyError, TypeError) as exc:
            raise RunFolderError(f"{where} is not a lamina preprocessing file (bad or missing {exc})") from None


def _token_ids(x: np.ndarray, shape: list[int], vocab: int, where: str) -> np.ndarray:
    """Check that ``x`` holds integer token ids of the trained length and vocabulary; return them as int64."""
    if x.dtype.kind not in "iu":
        raise DataError(f"{where} holds {x.dtype} values; this model takes integer token ids (0 is padding)")
    if x.ndim != 1 + len(shape) or tuple(x.shape[1:]) != tuple(shape):
        raise DataError(f"{where}: each sample must be {tuple(shape)} token ids; got samples of shape {x.shape[1:]}")
    if x.size and (x.min() < 0 or x.max() >= vocab):
        raise DataError(f"{where} holds token id {int(x.max() if x.max() >= vocab else x.min())}; "
                        f"ids must lie in [0, {vocab})")
    return x.astype(np.int64)


def _scaling(values: np.ndarray, scale: str) -> tuple[float, float]:
    if scale == "none" or values.size == 0:
        return 0.0, 1.0
    if scale == "minmax":
        low, high = float(values.min()), float(values.max())
        return low, (high - low) or 1.0
    mean, std = float(values.mean()), float(values.std())
    return mean, std if std > 1e-12 and math.isfinite(std) else 1.0


def _numbers(values: list[str]) -> np.ndarray | None:
    parsed = [parse_float(v) for v in values]
    if any(p is None for p in parsed):
        return None
    return np.asarray(parsed, dtype=np.float64)


def _numbers_or_error(values: list[str], source: str, name: str) -> np.ndarray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        number = parse_float(v)
        if number is None:
            raise DataError(f"{source} row {i + 2}, column '{name}': expected a number; got text {v!r}")
        out[i] = number
    return out


def _reject_missing(values: list[str], source: str, name: str) -> None:
    for i, v in enumerate(values):
        if is_missing(v):
            raise DataError(f"{source} row {i + 2}, column '{name}' is missing and data.missing is 'reject' "
                            "(set data.missing: impute to fill it)")
