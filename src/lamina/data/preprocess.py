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

from lamina.data.readers import Table
from lamina.errors import DataError, RunFolderError


ASSEMBLE_ROWS = 8192  # rows of the input array filled at a time (about 2.5 MB at 80 inputs: held in cache)


@dataclass
class Column:
    """How one table column becomes model inputs (fitted on the training rows)."""

    name: str
    kind: str  # "numeric" | "categorical" (one-hot) | "category_index" (1 + category index, 0 if unseen) | "datetime"
    fill: Any = None
    mean: float = 0.0
    std: float = 1.0
    categories: list[str] = field(default_factory=list)
    other: bool = False  # categorical above the cardinality cap: one more input for every value not kept
    low: float | None = None  # numeric: the training range, to count out-of-range values at predict time
    high: float | None = None
    parts: list[str] = field(default_factory=list)  # datetime: calendar features (see data.columns)
    fills: list[float] = field(default_factory=list)
    means: list[float] = field(default_factory=list)
    stds: list[float] = field(default_factory=list)

    @property
    def width(self) -> int:
        """Number of model inputs this column produces."""
        if self.kind == "categorical":
            return len(self.categories) + int(self.other)
        return len(self.parts) if self.kind == "datetime" else 1


@dataclass
class InputReport:
    """What a table transform met that training did not: per column, unseen categories and out-of-range numbers."""

    unseen: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Plain data (the server's response metadata)."""
        return {"unseen_categories": dict(self.unseen), "out_of_range": dict(self.out_of_range)}

    def message(self) -> str | None:
        """One line for the CLI, or None when every value was within what training saw."""
        parts = [f"{n} unseen categories in '{c}'" for c, n in self.unseen.items()]
        parts += [f"{n} values outside the training range in '{c}'" for c, n in self.out_of_range.items()]
        return "; ".join(parts) or None


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
    na_values: list[str] | None = None  # None: a run saved before data.na_values (the legacy spellings)
    nonfinite: str = "missing"  # runs saved before data.nonfinite imputed infinities

    # ------------------------------------------------------------ fitting

    @classmethod
    def fit_table(cls, table: Table, names: list[str], rows: np.ndarray, kinds: dict[str, str], missing: str,
                  scale: str, encoding: str = "onehot", na_values: list[str] | None = None,
                  nonfinite: str = "error", max_categories: int = 50,
                  distinct: dict[str, int] | None = None) -> tuple[InputPrep, list[dict]]:
        """Detect each column's kind (``kinds`` overrides), then fit imputation, scaling and categories on ``rows``.

        Returns the transform and the schema (one dict per column). ``encoding`` 'embedding' gives each
        categorical column one input holding its category's index (for an embedding layer) instead of
        one-hot columns. Columns that are ids, free text, constant or empty are left out. ``distinct``:
        distinct-value counts of number columns already made over these same rows (not counted again).
        """
        from lamina.data.columns import arrow_column, as_strings, category_counts, check_finite, missing_mask
        from lamina.data.schema import LEFT_OUT, detect

        columns, schema = [], []
        for name in names:
            column = arrow_column(table.column(name), na_values)
            found = detect(column, name, table.source, kinds.get(name), max_categories, (distinct or {}).get(name))
            info = found.kind
            if info.kind in LEFT_OUT:
                info.action = "left out"
                schema.append(info.as_dict())
                continue
            if missing == "reject" and info.missing:
                row = int(np.argmax(missing_mask(column)))
                raise DataError(f"{table.source} row {row + 2}, column '{name}' is missing and data.missing is "
                                "'reject' (set data.missing: impute to fill it)")
            if info.kind == "numeric":
                values = check_finite(found.values, table.source, name, nonfinite)
                columns.append(_fit_numeric(name, values[rows], scale))
                info.action = f"scaled ({scale})" + (", missing filled with the median" if info.missing else "")
            elif info.kind == "datetime":
                columns.append(_fit_datetime(name, found.values[rows]))
                info.action = f"{len(columns[-1].parts)} calendar features"
            else:
                strings = as_strings(column)
                values, counts = category_counts(strings.take(rows))
                other = len(values) > max_categories
                kind = "category_index" if encoding == "embedding" else "categorical"
                columns.append(Column(name, kind, fill=values[0] if values else "", categories=sorted(values[:max_categories]),
                                      other=other and kind == "categorical"))
                info.action = (f"top {max_categories} of {len(values)} values + other" if other else
                               f"{len(values)} categories") + (" (embedding)" if kind == "category_index" else " (one-hot)")
            schema.append(info.as_dict())
        if not columns:
            raise DataError(f"{table.source}: no column is usable as an input (all are ids, free text, constant, "
                            "empty or ignored); see the schema, and set data.columns to keep one")
        width = sum(c.width for c in columns)
        prep = cls("table", [width], missing, columns=columns, na_values=list(na_values or []), nonfinite=nonfinite)
        return prep, schema

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
        if self.kind != "tokens":
            return None
        return int(self.tokenizer.get("vocab_size", len(self.vocab)))  # a pretrained tokenizer keeps no vocab list

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

    def transform_table(self, table: Table, rows: np.ndarray | None = None) -> np.ndarray:
        """Apply the fitted transform to a table holding (at least) the training columns.

        ``rows`` picks and orders the rows of the result (all rows, in file order, when None).
        """
        if self.kind == "tokens" and self.tokenizer.get("kind") in ("word", "char", "minilm"):  # a text column (data.text)
            from lamina.data.text import encode_table

            return _pick(encode_table(table, self.vocab, self.tokenizer, self.shape[0]), rows)
        if self.kind == "series":
            from lamina.data.series import latest_windows

            return _pick(latest_windows(table, self), rows)
        if self.kind == "array":
            block = np.stack([self._numbers(table, n) for n in self.feature_names], axis=1) \
                if self.feature_names else np.zeros((table.rows, 0))
            return _pick(self.transform_array(block, table.source), rows)
        return self.table_inputs(table, rows)[0]

    def table_inputs(self, table: Table, rows: np.ndarray | None = None) -> tuple[np.ndarray, InputReport]:
        """The model inputs (float32) of a table's rows (``rows``: these, in this order), with the count of unseen
        and out-of-range values over the whole table."""
        parts, report = self.table_parts(table, rows)
        return self.assemble(parts), report

    def table_parts(self, table: Table, rows: np.ndarray | None = None) -> tuple[list[np.ndarray], InputReport]:
        """Each input column's transformed values in compact form (float32 blocks; category codes, not one-hot)
        for :meth:`assemble`, with the count of unseen and out-of-range values over the whole table.

        Two steps so a caller can free the table between them: the peak then holds the compact parts and
        either the table or the input array, never both (half the memory at 5M rows).
        """
        from lamina.data.columns import (arrow_column, as_strings, calendar_features, category_codes, check_finite,
                                         missing_mask, parse_datetimes)

        report = InputReport()
        parts = []
        for col in self.columns:
            column = arrow_column(table.column(col.name, "feature column"), self.na_values)
            if self.missing == "reject" and column.null_count:
                row = int(np.argmax(missing_mask(column)))
                raise DataError(f"{table.source} row {row + 2}, column '{col.name}' is missing and data.missing is "
                                "'reject' (set data.missing: impute to fill it)")
            if col.kind == "numeric":
                values = check_finite(self._numbers(table, col.name, column), table.source, col.name, self.nonfinite)
                if col.low is not None:
                    outside = int(np.count_nonzero((values < col.low) | (values > col.high)))
                    if outside:
                        report.out_of_range[col.name] = outside
                values = np.array(values) if rows is None else values[rows]  # a copy of our own, changed in place
                gaps = np.isnan(values)
                np.subtract(values, col.mean, out=values)
                np.divide(values, col.std, out=values)
                values[gaps] = (col.fill - col.mean) / col.std
                parts.append(values.astype(np.float32)[:, None])
            elif col.kind == "datetime":
                seconds = parse_datetimes(column)
                if seconds is None:
                    raise DataError(f"{table.source} column '{col.name}' does not parse as dates, as in training")
                features = calendar_features(_pick(seconds, rows), col.parts)
                features = np.where(np.isnan(features), np.asarray(col.fills), features)
                parts.append(((features - np.asarray(col.means)) / np.asarray(col.stds)).astype(np.float32))
            else:
                missing = missing_mask(column)
                codes = category_codes(as_strings(column).fill_null(col.fill), col.categories)
                unseen = int(np.count_nonzero((codes < 0) & ~missing))
                if unseen:
                    report.unseen[col.name] = unseen
                parts.append(_pick(codes, rows).astype(np.int32))
        return parts, report

    def assemble(self, parts: list[np.ndarray]) -> np.ndarray:
        """The (N, width) float32 model inputs from :meth:`table_parts`: blocks copied in, categories one-hot
        (or as 1 + index for an embedding; 0 for unseen or missing).

        Filled ASSEMBLE_ROWS rows at a time, every column of a slab before the next, so the slab stays in
        cache: column by column over a million rows is several times slower (each write a cache miss).
        """
        n = len(parts[0]) if parts else 0
        out = np.zeros((n, self.shape[0]), dtype=np.float32)
        for start in range(0, n, ASSEMBLE_ROWS):
            slab = out[start:start + ASSEMBLE_ROWS]
            position = 0
            for col, part in zip(self.columns, parts):
                piece = part[start:start + ASSEMBLE_ROWS]
                if col.kind in ("numeric", "datetime"):
                    slab[:, position:position + col.width] = piece
                elif col.kind == "category_index":
                    slab[:, position] = piece + 1
                else:
                    codes = np.where(piece < 0, len(col.categories), piece) if col.other else piece
                    hit = np.flatnonzero(codes >= 0)
                    slab[hit, position + codes[hit]] = 1.0
                position += col.width
        return out

    def _numbers(self, table: Table, name: str, column=None) -> np.ndarray:
        """A column's numbers (float64, NaN for missing), or a DataError naming the first cell that is words."""
        from lamina.data.columns import arrow_column, first_non_number, parse_numbers

        column = column if column is not None else arrow_column(table.column(name, "feature column"), self.na_values)
        values, _ = parse_numbers(column)
        if values is None:
            at, cell = first_non_number(column)
            raise DataError(f"{table.source} row {at + 2}, column '{name}': expected a number; got text {cell!r}")
        return values

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
        distinct, inverse = np.unique(np.asarray(y).ravel().astype(str), return_inverse=True)
        unknown = [v for v in distinct.tolist() if v not in index]
        if unknown:
            raise DataError(f"{where}: label {unknown[0]!r} was not seen in training; known: {', '.join(self.classes)}")
        codes = np.array([index[v] for v in distinct.tolist()], dtype=np.int64)[inverse.ravel()]
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


def _pick(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """``values[rows]``, or ``values`` itself when ``rows`` is None (all rows, in order)."""
    return values if rows is None else values[rows]


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


def _fit_numeric(name: str, values: np.ndarray, scale: str) -> Column:
    """A numeric column's median fill, scaling and training range, from its training values (NaN: missing)."""
    finite = values[np.isfinite(values)]
    fill = float(np.median(finite)) if finite.size else 0.0
    mean, std = _scaling(np.where(np.isfinite(values), values, fill), scale)
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
    return Column(name, "numeric", fill=fill, mean=mean, std=std, low=low, high=high)


def _fit_datetime(name: str, seconds: np.ndarray) -> Column:
    """A date/time column's calendar features with their fills (mean) and standardization, from training values."""
    from lamina.data.columns import calendar_features, calendar_parts

    parts = calendar_parts(seconds)
    features = calendar_features(seconds, parts)
    present = features[np.isfinite(features[:, 0])]
    means = present.mean(axis=0) if len(present) else np.zeros(len(parts))
    stds = present.std(axis=0) if len(present) else np.ones(len(parts))
    stds = np.where(stds > 1e-12, stds, 1.0)
    return Column(name, "datetime", parts=parts, fills=means.tolist(), means=means.tolist(), stds=stds.tolist())


def _scaling(values: np.ndarray, scale: str) -> tuple[float, float]:
    if scale == "none" or values.size == 0:
        return 0.0, 1.0
    if scale == "minmax":
        low, high = float(values.min()), float(values.max())
        return low, (high - low) or 1.0
    mean, std = float(values.mean()), float(values.std())
    return mean, std if std > 1e-12 and math.isfinite(std) else 1.0
