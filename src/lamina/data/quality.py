"""The data-quality report: what is wrong with a table before anything trains on it.

It counts rows and columns, missing cells per column, constant, empty and
id-like columns, exact duplicate rows and the rows whose inputs appear on both
sides of a train/validation/test split (leakage), the class balance, and
classes with very few rows (a misspelled label is usually a class of one).
``lamina inspect`` prints it and writes it as quality.json and quality.html;
every table or array run writes it to its folder before training, and a run
whose test rows repeat training rows, or that has a class of one row, prints
a warning line first. Likely label errors (:mod:`lamina.data.label_errors`)
join the report under ``lamina inspect``.

Columns are pyarrow arrays (typed; nulls for missing cells), so the same code
serves a CSV, Parquet, Feather or JSON Lines file or a builtin array set, and
rows compare as 64-bit hashes of their cells' value codes (fast at a million rows).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import DataError

ID_SHARE = 0.9  # a text or integer column with a distinct value in at least this share of its rows is id-like
ID_MIN_ROWS = 20
RARE_ROWS = 5  # a class with fewer rows than this is reported as very small
MAX_CLASSES = 20  # an integer target with at most this many distinct values is read as class labels


def read_columns(path: str | Path, fmt: str = "auto", na_values: list[str] | None = None) -> dict[str, Any]:
    """A table file (CSV, Parquet, Feather/Arrow IPC, JSON Lines) as typed pyarrow columns, read by
    lamina's table reader (:func:`lamina.data.readers.read_table`) with the run's missing-cell spellings."""
    from lamina.data.readers import NA_VALUES, read_table

    table = read_table(path, fmt, NA_VALUES if na_values is None else na_values)
    return {str(name): column.combine_chunks() for name, column in zip(table.column_names, table.columns)}


def array_columns(x: np.ndarray, names: list[str] | None = None) -> dict[str, Any]:
    """An array set's samples (flattened) as columns, so arrays get the same report as tables."""
    import pyarrow as pa

    flat = np.asarray(x).reshape(len(x), -1)
    names = names if names is not None and len(names) == flat.shape[1] else [f"x{i}" for i in range(flat.shape[1])]
    return {name: pa.array(flat[:, j]) for j, name in enumerate(names)}


def labels_of(column: Any) -> np.ndarray:
    """A column as text labels ('' where missing)."""
    import pyarrow as pa

    return np.asarray(column.cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False)).astype(str)


@dataclass
class TableQuality:
    """A table's quality report before a split is known, with what the leakage counts need later.

    ``keys`` holds one 64-bit key per row over the input columns (every column but the target and the
    id-like ones; None when there are none), so a run reports leakage across its split without
    keeping, or reading again, the table. ``distinct`` counts the distinct values of each number
    column (the schema shows the same count: one sort per column serves both).
    """

    report: dict[str, Any]
    keys: np.ndarray | None
    distinct: dict[str, int] = field(default_factory=dict)

    def take(self, rows: np.ndarray) -> TableQuality:
        """The same report whose row keys follow ``rows`` (the rows a run kept, e.g. those with a target);
        the distinct counts, which were of every row, are dropped."""
        return TableQuality(self.report, None if self.keys is None else self.keys[rows])

    def finish(self, splits: dict[str, np.ndarray] | None) -> dict[str, Any]:
        """The full report: the leakage counts over ``splits`` (indices into the kept rows) and the warnings."""
        report = {key: value for key, value in self.report.items() if key != "classes"}
        if splits is not None:
            n = report["rows"] if self.keys is None else len(self.keys)
            report["leakage"] = leakage(np.arange(n, dtype=np.uint64) if self.keys is None else self.keys, splits)
        if "classes" in self.report:
            report["classes"] = self.report["classes"]
        report["warnings"] = quality_warnings(report)
        return report


def quality_report(columns: dict[str, Any], target: str | None = None,
                   splits: dict[str, np.ndarray] | None = None, source: str = "") -> dict[str, Any]:
    """The quality report of pyarrow ``columns`` (see the module docstring) as plain JSON-ready data.

    ``target`` names the label column (class balance and very small classes);
    ``splits`` maps split names (train, val, test) to row indices, for the leakage counts.
    """
    return table_quality(columns, target, source).finish(splits)


def table_quality(columns: dict[str, Any], target: str | None = None, source: str = "") -> TableQuality:
    """Everything in the quality report but the leakage counts, in one pass over ``columns``.

    Each column's value codes are folded into the row keys as soon as they are made, so memory holds
    two key arrays, not one code array per column.
    """
    check_target(columns, target, source)
    n = len(next(iter(columns.values()))) if columns else 0
    stats, every, inputs, numbers = {}, np.zeros(n, dtype=np.uint64), None, {}
    for name, column in columns.items():
        found = _stats(column)
        codes = found.pop("codes")
        if found.pop("number"):
            numbers[name] = found["distinct"]
        every = _mix(every, codes)
        if name != target and not found["id_like"]:
            inputs = _mix(np.zeros(n, dtype=np.uint64) if inputs is None else inputs, codes)
        stats[name] = found
    empty = [name for name, s in stats.items() if s["missing"] == n]
    report: dict[str, Any] = {
        "source": source,
        "rows": n,
        "columns": len(columns),
        "target": target,
        "missing": {name: s["missing"] for name, s in stats.items() if s["missing"]},
        "missing_cells": int(sum(s["missing"] for s in stats.values())),
        "empty_columns": empty,
        "constant_columns": [name for name, s in stats.items() if name not in empty and s["distinct"] == 1],
        "id_like_columns": [name for name, s in stats.items() if name != target and name not in empty and s["id_like"]],
        "duplicates": _duplicates(every),
    }
    if target is not None:
        report["classes"] = _column_balance(columns[target])
    return TableQuality(report, inputs, numbers)


def check_target(columns: dict[str, Any], target: str | None, source: str) -> None:
    """A DataError naming the columns when ``target`` is not one of them."""
    if target is not None and target not in columns:
        from lamina.errors import did_you_mean

        raise DataError(f"{source or 'the data'} has no target column '{target}'.{did_you_mean(target, columns)} "
                        f"Columns: {', '.join(columns)}")


def _stats(column: Any) -> dict[str, Any]:
    """Missing cells (nulls and NaN), distinct present values, each cell's value code, and whether id-like.

    Numbers take a numpy path (a sort for the distinct count, the value's own bits as its code: no hash
    table per column); other types are dictionary-encoded by pyarrow.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_null(column.type):  # an all-empty column, as the table reader types it
        column = column.cast(pa.string())
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
        return _number_stats(column)
    present = column.drop_null()
    distinct = int(pc.count_distinct(present).as_py())
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.uint64)
    whole = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    id_like = len(present) >= ID_MIN_ROWS and distinct >= ID_SHARE * len(present) and whole
    return {"missing": int(column.null_count), "distinct": distinct, "codes": codes, "id_like": bool(id_like),
            "number": False}


def _number_stats(column: Any) -> dict[str, Any]:
    """:func:`_stats` of an integer, float or boolean column, in numpy (missing: null or NaN, one code)."""
    import pyarrow as pa

    if pa.types.is_integer(column.type) and column.null_count == 0:
        values = column.to_numpy().astype(np.int64, copy=False)
        present, codes = values, values.view(np.uint64)
    else:
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        nan = np.isnan(values)
        present = values[~nan]
        codes = np.where(nan, np.nan, values + 0.0).view(np.uint64)  # + 0.0: -0.0 and 0.0 are one value
    ordered = np.sort(present)
    distinct = int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if ordered.size else 0
    whole = not pa.types.is_boolean(column.type) and (
        pa.types.is_integer(column.type) or bool(np.all(np.floor(ordered) == ordered)))
    id_like = len(present) >= ID_MIN_ROWS and distinct >= ID_SHARE * len(present) and whole
    return {"missing": len(values) - len(present), "distinct": distinct, "codes": codes, "id_like": bool(id_like),
            "number": True}


def _mix(keys: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Row keys with one more column's value codes folded in; equal rows keep equal keys."""
    return (keys * np.uint64(0x100000001B3)) ^ (codes + np.uint64(1))  # FNV-style mixing, wrapping


def _duplicates(keys: np.ndarray) -> dict[str, int]:
    _, counts = np.unique(keys, return_counts=True)
    return {"rows": int((counts - 1).sum()), "groups": int((counts > 1).sum())}


def leakage(keys: np.ndarray, splits: dict[str, np.ndarray]) -> dict[str, int]:
    """Rows of a later split whose inputs (every column but the target and id-like ones) also occur in an earlier split."""
    out = {}
    order = [name for name in ("train", "val", "test") if name in splits]
    for i, later in enumerate(order):
        for earlier in order[:i]:
            out[f"{later}_in_{earlier}"] = int(np.isin(keys[splits[later]], keys[splits[earlier]]).sum())
    return out


def class_balance(labels: np.ndarray) -> dict[str, Any]:
    """Rows per class, the largest-to-smallest ratio, and the classes with very few rows (with the class a
    misspelled one most resembles)."""
    present = labels[labels != ""]
    names, counts = np.unique(present, return_counts=True)
    return _balance(names, counts, len(labels) - len(present))


def _column_balance(column: Any) -> dict[str, Any]:
    """:func:`class_balance` of a pyarrow label column, counted by pyarrow (no Python string per row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = column.cast(pa.string())
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)  # '' is a missing label, as in labels_of
    counted = pc.value_counts(text.drop_null())
    names = np.asarray(counted.field("values").to_pylist(), dtype=str)
    counts = counted.field("counts").to_numpy()
    order = np.argsort(names, kind="stable")
    return _balance(names[order], counts[order], len(text) - int(counts.sum()))


def _balance(names: np.ndarray, counts: np.ndarray, missing: int) -> dict[str, Any]:
    """The class balance from the distinct labels (sorted) and their row counts."""
    if _is_regression(names, len(names)):
        return {"task": "regression", "distinct": int(len(names))}
    big = [str(c) for c, k in zip(names, counts) if k >= RARE_ROWS]
    rare = []
    for name, count in zip(names, counts):
        if count < RARE_ROWS:
            close = difflib.get_close_matches(str(name), big, n=1, cutoff=0.6)
            rare.append({"class": str(name), "rows": int(count), **({"resembles": close[0]} if close else {})})
    return {"task": "classification", "counts": {str(c): int(k) for c, k in zip(names, counts)},
            "ratio": float(counts.max() / counts.min()), "rare": rare, "missing_labels": int(missing)}


def _is_regression(values: np.ndarray, distinct: int) -> bool:
    """True for labels that are numbers but not a few whole numbers (``values``: the labels, or just the distinct ones)."""
    try:
        numbers = values.astype(np.float64)
    except ValueError:
        return False
    return not (np.all(np.mod(numbers, 1) == 0) and distinct <= MAX_CLASSES)


def quality_warnings(report: dict[str, Any]) -> list[str]:
    """The problems that should stop a user before training: test rows seen in training, classes of one row."""
    lines = []
    leak = report.get("leakage", {})
    if leak.get("test_in_train"):
        lines.append(f"{leak['test_in_train']} test rows have an exact copy of their inputs in the training split; "
                     f"test metrics will read too high (remove duplicate rows)")
    for rare in report.get("classes", {}).get("rare", []):
        if rare["rows"] == 1:
            hint = f" (a typo of '{rare['resembles']}'?)" if "resembles" in rare else ""
            lines.append(f"class '{rare['class']}' has a single row{hint}; fix or drop it")
    return lines


def format_quality(report: dict[str, Any]) -> str:
    """The report as plain lines for a terminal."""
    lines = [f"data quality: {report['source']}",
             f"  rows {report['rows']}, columns {report['columns']}, missing cells {report['missing_cells']}"]
    for name, count in report["missing"].items():
        lines.append(f"  missing in '{name}': {count} ({count / max(report['rows'], 1):.1%})")
    for key, label in (("empty_columns", "empty columns"), ("constant_columns", "constant columns"),
                       ("id_like_columns", "id-like columns")):
        if report[key]:
            lines.append(f"  {label}: {', '.join(report[key])}")
    dup = report["duplicates"]
    lines.append(f"  exact duplicate rows: {dup['rows']} (in {dup['groups']} groups)")
    for key, count in report.get("leakage", {}).items():
        later, earlier = key.split("_in_")
        lines.append(f"  {later} rows whose inputs also occur in {earlier}: {count}")
    classes = report.get("classes")
    if classes and classes["task"] == "classification":
        shown = ", ".join(f"{c}: {k}" for c, k in classes["counts"].items())
        lines.append(f"  classes ({len(classes['counts'])}, largest/smallest {classes['ratio']:.1f}x): {shown}")
        for rare in classes["rare"]:
            hint = f", resembles '{rare['resembles']}'" if "resembles" in rare else ""
            lines.append(f"  very small class '{rare['class']}': {rare['rows']} rows{hint}")
    errors = report.get("label_errors")
    if errors:
        lines.append(f"  likely label errors: {errors['flagged']} rows ({errors['method']}); first data rows (from 0): "
                     + ", ".join(str(r["row"]) for r in errors["rows"][:10]))
    lines += [f"warning: {line}" for line in report["warnings"]]
    return "\n".join(lines)


def inspect_data(data: str | Path, target: str | None = None, seed: int = 0, val: float = 0.15,
                 test: float = 0.15) -> dict[str, Any]:
    """The full quality report of a table file or builtin set, as ``lamina inspect`` shows it.

    Leakage is counted over the split a run with these fractions and ``seed`` would make
    (stratified by class), and likely label errors are added for a class target
    (:mod:`lamina.data.label_errors`). A builtin set's label column is named ``target``.
    """
    import pyarrow as pa

    from lamina.data.splits import split_indices
    from lamina.registry import DATASETS

    path = Path(data)
    if path.is_file() or path.suffix:
        columns, source = read_columns(path), str(path)
    elif str(data) in DATASETS.names():
        loaded = DATASETS.get(str(data))()
        columns, source = array_columns(loaded.x, loaded.feature_names), f"dataset '{data}'"
        columns["target"] = pa.array(np.asarray(loaded.y).astype(str).reshape(len(loaded.x), -1)[:, 0])
        target = target or "target"
    else:
        raise DataError(f"{data} is neither a table file nor a builtin dataset ({', '.join(DATASETS.names())})")
    check_target(columns, target, source)
    labels = labels_of(columns[target]) if target is not None else None
    labels = labels if labels is not None and class_balance(labels)["task"] == "classification" else None
    train, val_rows, test_rows = split_indices(len(next(iter(columns.values()))), labels, val, test, seed)
    report = quality_report(columns, target, {"train": train, "val": val_rows, "test": test_rows}, source)
    if labels is not None:
        from lamina.data.label_errors import label_error_report

        leave_out = report["id_like_columns"] + report["constant_columns"] + report["empty_columns"]
        report["label_errors"] = label_error_report(columns, target, leave_out, seed)
    return report


MAX_ARRAY_FEATURES = 256  # array sets with wider samples (images) get no report: per-pixel columns say little


def run_quality(spec: Any, data: Any, root: Path, given: Any = None) -> dict[str, Any] | None:
    """Write a run's quality.json (before training) and print its warnings; None where it does not apply.

    ``spec`` is the run's DataSpec and ``data`` its Prepared splits, whose rows give the leakage
    counts; ``given`` is the data handed in from Python (lamina.data.memory.InMemory), if any. A table
    training read carries its report (``data.quality``, made from the same columns: the file is not read
    again). Time series and text pairs are skipped (windows overlap by design); so are image folders and
    array sets with more than MAX_ARRAY_FEATURES values per sample.
    """
    import sys

    from lamina.files import write_json

    from lamina.data.pairs import is_pairs

    if spec.series is not None or is_pairs(spec) or (spec.path is not None and Path(spec.path).is_dir()):
        return None  # image folders: no per-pixel table report
    splits = {"train": data.train.rows, "val": data.val.rows, "test": data.test.rows}
    if data.quality is not None:
        report = data.quality.finish(splits)
    else:
        found = _run_columns(spec, data, given)
        if found is None:
            return None
        columns, target, source = found
        report = quality_report(columns, target, splits, source)
    write_json(root / "quality.json", report)
    for line in report["warnings"]:
        print(f"warning: {line} (data quality: {root / 'quality.json'})", file=sys.stderr)
    return report


def _run_columns(spec: Any, data: Any, given: Any) -> tuple[dict[str, Any], str | None, str] | None:
    """(columns, target, source) of a run's data when training did not make the report itself (data from Python,
    a text model's CSV, an array set); None where no report applies."""
    import sys

    import pyarrow as pa

    from lamina.data.readers import table_format

    if given is not None and given.kind == "frame":
        columns = {str(n): c.combine_chunks() for n, c in zip(given.table.column_names, given.table.columns)}
        target = spec.target if isinstance(spec.target, str) else None
        return (columns, target, "DataFrame") if target is not None and target in columns else None
    if given is not None:
        if np.prod(given.x.shape[1:]) > MAX_ARRAY_FEATURES:
            return None
        columns, target = array_columns(given.x), None
        if data.task != "regression":  # class balance is about classes; regression values are not counted as ones
            target = "target"
            columns[target] = pa.array(np.asarray(given.y).astype(str).reshape(len(given.x), -1)[:, 0])
        return columns, target, given.name
    if spec.path is not None and table_format(spec.path, spec.format) is not None:
        if not isinstance(spec.target, str):  # several targets (regression): no class report
            return None
        try:
            columns = read_columns(spec.path, spec.format, spec.na_values)
        except DataError as exc:  # the run's own reader took the file: the report must not stop it
            print(f"warning: no data-quality report: {exc}", file=sys.stderr)
            return None
        return (columns, spec.target, spec.path) if spec.target in columns else None
    from lamina.data.prepare import load_source

    loaded = load_source(spec)
    if loaded.x is None or np.prod(loaded.x.shape[1:]) > MAX_ARRAY_FEATURES:
        return None
    columns = array_columns(loaded.x, loaded.features)
    columns["target"] = pa.array(np.asarray(loaded.y).astype(str).reshape(len(loaded.x), -1)[:, 0])
    return columns, "target", loaded.name
