"""From a DataSpec to model-ready tensors: load, infer the task, split, fit preprocessing on train."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.config import DataSpec
from lamina.data.builtin import ArrayData
from lamina.data.pairs import is_pairs, prepare_pairs
from lamina.data.preprocess import InputPrep, Preprocessor, TargetPrep
from lamina.data.quality import TableQuality
from lamina.data.readers import (Table, parse_float, read_csv, read_npz, read_table, release_arrow_memory,
                                 table_format)
from lamina.data.columns import (arrow_column, as_strings, cardinality, first_non_number, missing_mask,
                                  parse_numbers)
from lamina.data.schema import ColumnKind
from lamina.data.splits import planned_split, split_indices
from lamina.errors import ConfigError, DataError
from lamina.registry import DATASETS

MAX_CLASSES_FOR_INTEGER_TARGET = 20


@dataclass
class Split:
    """One split's model inputs and encoded targets, with the source rows they came from."""

    x: torch.Tensor
    y: torch.Tensor
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Prepared:
    """Everything the loop needs from the data, plus the fitted preprocessing to save with the run."""

    train: Split
    val: Split
    test: Split
    preprocessor: Preprocessor
    source: str
    schema: list[dict] | None = None  # tables: each column's detected kind and treatment (schema.json)
    groups: dict[str, np.ndarray] = field(default_factory=dict)  # eval.groups: each named column's value per row, as text
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent reading and preparing
    quality: TableQuality | None = None  # tables read for training: the quality report, less its leakage counts

    @property
    def task(self) -> str:
        """binary | multiclass | regression."""
        return self.preprocessor.target.task

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one model input (without the batch axis)."""
        return tuple(self.preprocessor.inputs.shape)

    @property
    def n_outputs(self) -> int:
        """Width of the model's output layer."""
        return self.preprocessor.target.n_outputs

    @property
    def vocab(self) -> int | None:
        """Vocabulary size when the inputs are token ids (what an embedding needs), else None."""
        return self.preprocessor.inputs.vocab_size

    @property
    def categories(self) -> list[list[int]] | None:
        """[[input position, category count], ...] of categorical columns encoded for embeddings, else None."""
        return self.preprocessor.inputs.category_sizes

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one model output: (n_outputs,), or (target length, vocabulary) for seq2seq."""
        return self.preprocessor.target.output_shape


def prepare_data(spec: DataSpec, fitted: Preprocessor | None = None, given: Any = None,
                 groups: list[str] | None = None, group_inputs: bool = False, quality: bool = False) -> Prepared:
    """Load the data the spec names and return train/val/test tensors.

    Preprocessing is fitted on the training rows, or, when ``fitted`` is given
    (a run's saved preprocessing), applied as it is, so evaluation sees exactly
    what training saw. ``given`` is data handed in from Python (``data.python``:
    arrays or a frame, see lamina.data.memory) instead of a file or builtin set.
    ``groups`` (eval.groups) names table columns whose values are kept per row in
    ``Prepared.groups`` for metrics by group; they are not model inputs unless
    ``group_inputs``. ``quality`` (training) also makes a table's data-quality
    report from the columns already read (``Prepared.quality``), so the file is read once.
    """
    groups = list(groups or [])
    if spec.python is not None or given is not None:
        return _prepare_given(spec, fitted, given, groups, group_inputs)
    if groups and (spec.series is not None or is_pairs(spec) or spec.dataset is not None
                   or (spec.path is not None and Path(spec.path).is_dir())):
        _no_group_columns(f"dataset '{spec.dataset}'" if spec.dataset else str(spec.path))
    if spec.series is not None:
        from lamina.data.series import prepare_series

        return prepare_series(spec, fitted)
    if is_pairs(spec):
        return prepare_pairs(spec, fitted)
    if spec.path is not None and Path(spec.path).is_dir():  # an image folder, one sub-folder per class
        from lamina.data.images import prepare_images

        return prepare_images(spec, fitted)
    if spec.image_column is not None:  # a table of image paths and labels
        from lamina.data.images import prepare_image_table

        return prepare_image_table(spec, fitted)
    started = time.perf_counter()
    source = load_source(spec, [] if group_inputs else groups, quality=quality and fitted is None)
    kept = group_values(source, groups)
    prepared = _prepare_source(source, split_rows(source, spec), spec, fitted, started)
    prepared.groups = kept
    return prepared


def _no_group_columns(source: str) -> None:
    """eval.groups on data without named columns: one ConfigError saying what works."""
    raise ConfigError(f"eval.groups names columns of a table, but {source} is not a table with named columns; "
                      "use a table file (data.path: a CSV, Parquet, Feather or JSON Lines file) or a DataFrame from "
                      "Python (lamina.fit(config, data=frame)) holding the group column")


def group_values(source: Source, names: list[str]) -> dict[str, np.ndarray]:
    """Each group column's value per row of ``source`` as text (a missing cell is '(missing)')."""
    if not names:
        return {}
    if source.table is None:
        _no_group_columns(source.name)
    values = {}
    for name in names:
        column = arrow_column(source.table.column(name, "group column (eval.groups)"), None)
        values[name] = np.asarray(as_strings(column).fill_null("(missing)").to_pylist(), dtype=str)
    return values


def _prepare_source(source: Source, rows: tuple[np.ndarray, np.ndarray, np.ndarray], spec: DataSpec,
                    fitted: Preprocessor | None, started: float) -> Prepared:
    """Fit (or apply ``fitted``) preprocessing on the (train, val, test) ``rows`` of a read source; timed from ``started``."""
    read = time.perf_counter() - started - source.quality_seconds
    train, val, test = rows
    prep = fitted or fit_preprocessor(source, train, spec)
    order = np.concatenate([train, val, test])  # the inputs are made in split order: each split is then a view
    if source.table is not None and prep.inputs.kind == "table":
        parts, _ = prep.inputs.table_parts(source.table, order)
        source.table = None  # the raw columns are no longer needed: freed before the input array is made
        release_arrow_memory()
        x = prep.inputs.assemble(parts)
        del parts
    elif source.table is not None:
        x = prep.inputs.transform_table(source.table, order)
    else:
        x = prep.inputs.transform_array(source.x, source.name)[order]
    source.table = None
    prepared = _package(x, prep.target.encode(source.y, source.name)[order], (train, val, test), prep, source.name)
    if fitted is None:
        prepared.schema = source.schema
    prepared.quality = source.quality
    prepared.timings = {"read_seconds": round(read, 3),
                        "prepare_seconds": round(time.perf_counter() - started - read - source.quality_seconds, 3)}
    if source.quality is not None:
        prepared.timings["quality_seconds"] = round(source.quality_seconds, 3)
    return prepared


def _prepare_given(spec: DataSpec, fitted: Preprocessor | None, given: Any, groups: list[str],
                   group_inputs: bool) -> Prepared:
    """:func:`prepare_data` for arrays or a frame from Python (``given``, see lamina.data.memory)."""
    from lamina.data.memory import InMemory, array_data, frame_table, in_memory, planned_rows

    if spec.python is None:
        raise ConfigError("data from Python needs data.python set (lamina.fit sets it); got data.python=None")
    if given is None:
        raise ConfigError(f"this run was trained on data handed in from Python (data.python: {spec.python}), which "
                          "is not saved with it; there is no file to read its splits from. Score new data with "
                          "lamina predict RUN FILE or Run.predict")
    started = time.perf_counter()
    held = given if isinstance(given, InMemory) else in_memory(given)
    if held.kind != spec.python:
        raise ConfigError(f"data.python is '{spec.python}' but the data given is {held.kind}")
    if held.kind == "frame":
        source = _table_source(frame_table(held), spec, [] if group_inputs else groups)
    else:
        source = _array_source(array_data(held, spec), spec, held.name)
    source.name = held.name
    kept = group_values(source, groups)
    prepared = _prepare_source(source, planned_rows(held) or split_rows(source, spec), spec, fitted, started)
    prepared.groups = kept
    return prepared


def split_rows(source: Source, spec: DataSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (train, val, test) row indices of ``source`` under the spec's split, stratified by class when asked."""
    labels = (source.y if source.codes is None else source.codes) \
        if source.task != "regression" and spec.split.stratify else None
    split = spec.split
    if split.order is not None or split.group is not None or split.folds is not None:
        order = _split_column(source, split.order, "data.split.order", sortable=True) if split.order else None
        groups = _split_column(source, split.group, "data.split.group") if split.group else None
        return planned_split(source.rows, labels, split.val, split.test, split.seed, order, groups, split.folds, split.fold)
    return split_indices(source.rows, labels, spec.split.val, spec.split.test, spec.split.seed)


def _split_column(source: Source, name: str, field: str, sortable: bool = False) -> np.ndarray:
    """The table column a split field names (numbers sort as numbers, other text as written: ISO dates in time order)."""
    if source.table is None:
        raise ConfigError(f"{field} names a column ('{name}'), but {source.name} is not a table")
    column = arrow_column(source.table.column(name, f"{field} column"), None)
    if sortable:
        numbers, _ = parse_numbers(column)
        if numbers is not None and not np.isnan(numbers).any():
            return numbers
    return np.asarray(as_strings(column).fill_null("").to_pylist())


@dataclass
class Source:
    """Raw data as read: a CSV table or an array, targets, and the task they imply."""

    name: str
    y: np.ndarray
    task: str
    target_names: list[str]
    class_names: list[str] | None = None
    table: Table | None = None
    features: list[str] | None = None
    x: np.ndarray | None = None
    shape: list[int] | None = None
    vocab: list[str] | None = None
    schema: list[dict] | None = None  # tables: the target columns' schema rows
    codes: np.ndarray | None = None  # class labels as indices into their sorted names (a faster stratified split)
    quality: TableQuality | None = None  # tables, when asked: the quality report made from the columns as read
    quality_seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Number of samples."""
        return len(self.y)


def load_source(spec: DataSpec, left_out: list[str] | None = None, quality: bool = False) -> Source:
    """Read the spec's builtin set or file and work out the task (unless the spec fixes it).

    ``left_out``: table columns that are no model input (the eval.groups columns, by default).
    ``quality``: a table file read columnar also gets its data-quality report (``Source.quality``).
    """
    if spec.dataset is not None:
        return _array_source(DATASETS.get(spec.dataset)(), spec, f"dataset '{spec.dataset}'")
    path = Path(spec.path)
    fmt = spec.format if spec.format != "auto" else path.suffix.lower().lstrip(".")
    if fmt == "npz":
        return _npz_source(path, spec)
    kind = table_format(path, spec.format)
    if kind == "csv" and spec.text is not None:  # a text model tokenizes strings: the string reader
        return _table_source(read_csv(path), spec, left_out)
    if kind is not None:
        return _table_source(_arrow_table(path, kind, spec), spec, left_out, quality)
    raise ConfigError(f"data.path {path} has an unknown format '{path.suffix}'; use a .csv, .parquet, .feather, "
                      ".arrow, .jsonl or .npz file or set data.format")


def _arrow_table(path: Path, kind: str, spec: DataSpec) -> Table:
    """A table file read columnar (pyarrow), its columns kept as arrays, as a Table."""
    data = read_table(path, kind, spec.na_values)
    return Table(str(path), {name: data.column(name) for name in data.column_names})


def fit_preprocessor(source: Source, train: np.ndarray, spec: DataSpec) -> Preprocessor:
    """Fit input and target transforms on the training rows only."""
    if source.vocab is not None:
        inputs = InputPrep.for_tokens(source.shape, source.vocab)
    elif spec.text is not None:
        from lamina.data.text import fit_text

        vocab, tokenizer, length = fit_text(source.table, spec.text, train)
        inputs = InputPrep.for_tokens([length], vocab, tokenizer)
    elif source.table is not None:
        kinds = {**{n: "categorical" for n in spec.categorical}, **{n: "numeric" for n in spec.numeric}, **spec.columns}
        inputs, schema = InputPrep.fit_table(source.table, source.features, train, kinds, spec.missing,
                                             "standard" if spec.scale == "auto" else spec.scale,
                                             spec.categorical_encoding, spec.na_values, spec.nonfinite,
                                             spec.max_categories, source.quality.distinct if source.quality else None)
        source.schema = (source.schema or []) + schema
    else:
        inputs = InputPrep.fit_array(source.x, train, source.shape, source.features, spec.missing, spec.scale, source.name)
    target = _fit_target(source.y, train, source.task, source.target_names, spec.scale_target, source.class_names)
    return Preprocessor(inputs, target)


# ---------------------------------------------------------------- tables


def _table_source(table: Table, spec: DataSpec, left_out: list[str] | None = None, quality: bool = False) -> Source:
    """The table's targets, task and feature columns; with ``quality``, its quality report made from the same columns."""
    if spec.target is None:
        raise ConfigError(f"data.target is required for table data: name the column to predict (columns: {', '.join(table.columns)})")
    targets = [spec.target] if isinstance(spec.target, str) else list(spec.target)
    for name in targets + spec.drop + spec.categorical + spec.numeric:
        table.column(name)
    for name in spec.columns:
        table.column(name, "column (data.columns)")
    if spec.text is not None:
        table.column(spec.text.column, "text column (data.text.column)")
    left_out = [name for name in left_out or [] if name not in targets]
    for name in left_out:
        table.column(name, "group column (eval.groups)")
    features = [c for c in table.columns if c not in targets and c not in spec.drop and c not in left_out]
    if not features:
        raise DataError(f"{table.source} has no feature columns besides the target {targets}")
    values = [arrow_column(table.column(t), spec.na_values if spec.text is None else None) for t in targets]
    missing = _missing_targets(table, values, targets, spec.missing_target)
    report, started = None, time.perf_counter()
    if quality and isinstance(spec.target, str) and spec.text is None:  # arrow columns, one target
        from lamina.data.quality import table_quality

        report = table_quality(table.columns, spec.target, table.source)
    seconds = time.perf_counter() - started
    table, values, kept = _drop_rows(table, values, missing)
    dropped = 0 if kept is None else len(kept.missing)
    if report is not None and kept is not None:
        report = report.take(kept.rows)
    task = _infer_task(values, spec.task, table.source, targets)
    schema = [ColumnKind(t, "target", f"data.target ({task})", 0, cardinality(v),
                         f"predicted; {dropped} rows with it missing dropped" if dropped else "predicted").as_dict()
              for t, v in zip(targets, values)]
    schema += [ColumnKind(n, "ignore", "data.drop", 0, 0, "left out").as_dict() for n in spec.drop]
    schema += [ColumnKind(n, "ignore", "eval.groups", 0, 0, "metrics by group; not an input (eval.group_inputs: "
                          "false)").as_dict() for n in left_out]
    y, codes = _target_array(values, task, table.source, targets)
    return Source(table.source, y, task, targets, table=table, features=features, schema=schema, codes=codes,
                  quality=report, quality_seconds=seconds)


@dataclass
class Kept:
    """The rows of a table kept after those with a missing target were dropped (``missing``: the dropped ones)."""

    rows: np.ndarray
    missing: np.ndarray


def _missing_targets(table: Table, values: list, targets: list[str], policy: str) -> np.ndarray:
    """Where the target is missing; an error when it is missing in every row, or anywhere under ``policy`` 'reject'."""
    missing = np.zeros(table.rows, dtype=bool)
    for column in values:
        missing |= missing_mask(column)
    count = int(missing.sum())
    if count == table.rows:
        raise DataError(f"{table.source}: the target {', '.join(targets)} is missing in every row ({count}); "
                        "there is nothing to learn from")
    if count and policy == "reject":
        row = int(np.argmax(missing))
        raise DataError(f"{table.source} row {row + 2}: the target is missing ({count} rows in all) and "
                        "data.missing_target is 'reject' (set it to drop to train on the other rows)")
    return missing


def _drop_rows(table: Table, values: list, missing: np.ndarray) -> tuple[Table, list, Kept | None]:
    """The table and target columns without the ``missing`` rows (with a printed count), and the rows kept;
    None when no row is missing."""
    count = int(missing.sum())
    if not count:
        return table, values, None
    print(f"note: {count} of {table.rows} rows of {table.source} have no target and are left out "
          "(data.missing_target: drop)", file=sys.stderr)
    keep = np.flatnonzero(~missing)
    kept = Table(table.source, {name: _take(column, keep) for name, column in table.columns.items()})
    return kept, [column.take(keep) for column in values], Kept(keep, np.flatnonzero(missing))


def _take(column, rows: np.ndarray):
    """The ``rows`` of a column (a pyarrow array or a list of strings)."""
    return column.take(rows) if hasattr(column, "take") else [column[i] for i in rows]


def _infer_task(columns: list, requested: str, source: str, names: list[str]) -> str:
    if len(columns) > 1:
        if requested not in ("auto", "regression"):
            raise ConfigError(f"data.task '{requested}' needs one target column; got {names}")
        return "regression"
    numbers, _ = parse_numbers(columns[0])
    if requested != "auto":
        if requested == "regression" and numbers is None:
            at, bad = first_non_number(columns[0])
            raise DataError(f"{source}: target column '{names[0]}' must be numeric for regression; got text {bad!r}")
        return requested
    distinct = cardinality(columns[0])
    if numbers is None:
        return "binary" if distinct == 2 else "multiclass"
    integral = bool(np.all(np.mod(numbers, 1) == 0))
    if integral and distinct <= MAX_CLASSES_FOR_INTEGER_TARGET and distinct < len(numbers) / 2:
        return "binary" if distinct == 2 else "multiclass"
    return "regression"


def _target_array(columns: list, task: str, source: str, names: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """(targets, class codes for stratifying; None for regression)."""
    if task != "regression":
        return _class_labels(columns[0])
    out = np.empty((len(columns[0]), len(columns)))
    for j, (name, column) in enumerate(zip(names, columns)):
        numbers, _ = parse_numbers(column)
        if numbers is None:
            at, bad = first_non_number(column)
            raise DataError(f"{source} row {at + 2}, target column '{name}': expected a number; got {bad!r}")
        if not np.isfinite(numbers).all():
            at = int(np.argmax(~np.isfinite(numbers)))
            raise DataError(f"{source} row {at + 2}, target column '{name}': expected a finite number; got {numbers[at]}")
        out[:, j] = numbers
    return out, None


def _class_labels(column) -> tuple[np.ndarray, np.ndarray]:
    """(labels, codes): class labels as compact strings (integral numbers written as integers) and each row's
    index into the sorted label names, found by encoding the few distinct values rather than every row."""
    import pyarrow.compute as pc

    numbers, _ = parse_numbers(column)
    if numbers is not None and np.all(np.mod(numbers, 1) == 0):
        distinct, inverse = np.unique(numbers.astype(np.int64), return_inverse=True)
        names = [str(v) for v in distinct.tolist()]
    else:
        encoded = pc.dictionary_encode(as_strings(column))
        names = encoded.dictionary.to_pylist()
        inverse = encoded.indices.to_numpy(zero_copy_only=False)
    order = sorted(range(len(names)), key=names.__getitem__)  # codes follow the sorted names, as np.unique's would
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    codes = rank[np.asarray(inverse, dtype=np.int64).ravel()]
    return np.asarray(sorted(names), dtype=str)[codes], codes


def _canonical_labels(values: list[str]) -> np.ndarray:
    """Labels as strings; numeric labels written the same way however the file spells them (1, 1.0)."""
    numbers = [parse_float(v) for v in values]
    if all(n is not None and float(n).is_integer() for n in numbers):
        return np.asarray([str(int(n)) for n in numbers])
    return np.asarray(values)


# ---------------------------------------------------------------- arrays


def _npz_source(path: Path, spec: DataSpec) -> Source:
    arrays = read_npz(path, (spec.x_key, spec.y_key))
    x, y = arrays[spec.x_key], arrays[spec.y_key]
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path} array '{spec.x_key}' holds {x.dtype} values; features must be numbers")
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"{path} array '{spec.x_key}' must be shaped (samples, features...); got {x.shape}")
    if len(y) != len(x):
        raise DataError(f"{path}: '{spec.x_key}' has {len(x)} samples but '{spec.y_key}' has {len(y)}")
    if y.dtype.kind == "f" and spec.task in ("auto", "regression") and not _integral(y):
        task = "regression"
    elif y.ndim > 1 and y.shape[1] > 1:
        task = "regression"
    else:
        task = "classification"
    names = [f"x{i}" for i in range(int(np.prod(x.shape[1:])))]
    if task == "regression":
        data = ArrayData(x, y.astype(np.float64), "regression", names, [f"y{i}" for i in range(y.reshape(len(y), -1).shape[1])])
    else:
        labels = _canonical_labels([str(v) for v in y.ravel()])
        classes = sorted(set(labels.tolist()), key=label_order)
        data = ArrayData(x, labels, "binary" if len(classes) == 2 else "multiclass", names, [spec.y_key], classes)
    if spec.task != "auto":
        data.task = spec.task
    return _array_source(data, spec, str(path))


def _integral(y: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(y)) and np.all(np.mod(y, 1) == 0) and len(np.unique(y)) <= MAX_CLASSES_FOR_INTEGER_TARGET)


def _array_source(data: ArrayData, spec: DataSpec, name: str) -> Source:
    sample = data.x.shape[1:]
    if data.vocab is not None:
        shape = [int(np.prod(sample))]
    elif spec.view == "flat" or (spec.view == "auto" and len(sample) == 1):
        shape = [int(np.prod(sample))]
    elif data.sequence:
        shape = list(map(int, sample))  # (steps, features), scaled by one global range like an image
    elif len(sample) == 2:
        shape = [1, *map(int, sample)]
    elif len(sample) == 3:
        shape = list(map(int, sample))
    else:
        raise ConfigError(f"data.view 'image' needs samples shaped (height, width) or (channels, height, width); "
                          f"{name} has samples shaped {tuple(sample)}")
    task = data.task if spec.task == "auto" else spec.task
    if task == "regression" and data.task != "regression":
        raise ConfigError(f"data.task 'regression' does not fit {name}: its targets are class labels")
    if task != "regression" and data.task == "regression":
        raise ConfigError(f"data.task '{task}' does not fit {name}: its targets are continuous values")
    return Source(name, data.y, task, data.target_names, data.class_names, x=data.x, features=data.feature_names,
                  shape=shape, vocab=data.vocab)


# ---------------------------------------------------------------- shared


def _fit_target(y: np.ndarray, train: np.ndarray, task: str, names: list[str], scale: bool,
                classes: list[str] | None = None) -> TargetPrep:
    if task == "regression":
        values = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[train]
        mean = values.mean(axis=0) if scale else np.zeros(values.shape[1])
        std = values.std(axis=0) if scale else np.ones(values.shape[1])
        return TargetPrep("regression", names, mean=mean.tolist(), std=np.where(std > 1e-12, std, 1.0).tolist())
    found = sorted(set(np.asarray(y).tolist()), key=label_order)
    classes = classes or found
    if len(classes) < 2:
        raise DataError(f"the target has a single class {classes}; classification needs at least two")
    if task == "binary" and len(classes) != 2:
        raise ConfigError(f"data.task 'binary' needs exactly two classes; the target has {len(classes)}")
    if task == "multiclass" or len(classes) > 2:
        task = "multiclass"
    return TargetPrep(task, names, classes=classes)


def label_order(label: str) -> tuple[int, float, str]:
    """Sort key of class labels: numbers in numeric order first, then other text as written."""
    number = parse_float(label)
    return (0, number, "") if number is not None and np.isfinite(number) else (1, 0.0, label)


def _package(x: np.ndarray, y: np.ndarray, splits: tuple[np.ndarray, np.ndarray, np.ndarray],
             prep: Preprocessor, source: str) -> Prepared:
    """The splits as views of ``x`` and ``y``, whose rows are the train, val and test rows in that order (no copy)."""
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    parts, start = [], 0
    for rows in splits:
        parts.append(Split(xt[start:start + len(rows)], yt[start:start + len(rows)], rows))
        start += len(rows)
    return Prepared(*parts, prep, source)
