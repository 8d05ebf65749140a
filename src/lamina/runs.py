"""The run folder: the one artifact of training, and the model it rebuilds.

``runs/<name>/`` holds config.yaml (resolved), model.safetensors,
preprocess.json, checkpoints/, metrics.jsonl, losses.jsonl, tensorboard/ and summary.json.
:func:`load_run` rebuilds model and preprocessing from those files alone,
with no pickle anywhere, and :class:`Run` predicts from raw inputs.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lamina.config import RunSpec, parse_run_spec, parse_yaml
from lamina.data.preprocess import InputReport, Preprocessor, TargetPrep
from lamina.data.readers import Table, read_csv, read_npz, read_table, table_format
from lamina.device import resolve_device
from lamina.errors import ConfigError, DataError, LaminaError, RunFolderError
from lamina.files import atomic_write_text, load_tensors, read_json
from lamina.nn.build import build_model
from lamina.nn.int8 import int8_format, load_int8
from lamina.nn.outputs import model_outputs

PREDICT_BATCH = 256


class RunFolder:
    """Paths inside a run folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.config = self.root / "config.yaml"
        self.weights = self.root / "model.safetensors"
        self.preprocess = self.root / "preprocess.json"
        self.checkpoints = self.root / "checkpoints"
        self.metrics = self.root / "metrics.jsonl"
        self.losses = self.root / "losses.jsonl"
        self.tensorboard = self.root / "tensorboard"
        self.summary = self.root / "summary.json"
        self.evaluation = self.root / "evaluation.json"
        self.predictions = self.root / "predictions"

    def read_config(self) -> dict[str, Any]:
        """The run's config.yaml as plain data: the one reader of a run folder's config, so a missing,
        undecodable or malformed file is the same RunFolderError wherever a run is opened."""
        if not self.config.is_file():
            raise RunFolderError(f"{self.root} is not a run folder: config.yaml is missing")
        try:
            text = self.config.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise RunFolderError(f"{self.config} is not valid YAML ({exc})") from None
        except OSError as exc:
            raise RunFolderError(f"{self.config} cannot be read: {exc.strerror or exc}") from None
        return parse_yaml(text, str(self.config), RunFolderError)

    @classmethod
    def create(cls, runs_dir: str | Path, name: str) -> RunFolder:
        """Make a new, empty run folder; an existing run is never overwritten (``name-2``, ``name-3``...)."""
        base = make_runs_dir(runs_dir)
        for i in range(1, 10_000):
            candidate = base / (name if i == 1 else f"{name}-{i}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunFolderError(f"run folder {candidate} cannot be made: {exc.strerror or exc}") from None
            return cls(candidate)
        raise LaminaError(f"{base} holds too many runs named {name!r}; choose another name")


def check_runs_dir(runs_dir: str | Path) -> Path:
    """Refuse a ``runs_dir`` that is, or lies under, a file (it could never hold run folders); creates nothing."""
    base = Path(runs_dir)
    for path in (base, *base.parents):
        if path.exists():
            if not path.is_dir():
                raise ConfigError(f"runs_dir {path} is not a folder; name a folder to hold the run folders")
            break
    return base


def make_runs_dir(runs_dir: str | Path) -> Path:
    """Create the folder that holds run folders (``runs_dir``), after :func:`check_runs_dir`."""
    base = check_runs_dir(runs_dir)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # runs_dir names a device such as /dev/null, or a folder not writable
        raise RunFolderError(f"runs_dir {base} cannot hold run folders: {exc.strerror or exc}") from None
    return base


@dataclass
class Run:
    """A trained model with its resolved config and fitted preprocessing, loaded from a run folder."""

    folder: RunFolder
    spec: RunSpec
    preprocessor: Preprocessor
    model: torch.nn.Module

    @property
    def task(self) -> str:
        """binary | multiclass | regression."""
        return self.preprocessor.target.task

    @property
    def device(self) -> torch.device:
        """Where the model lives (CPU for a model without float parameters, such as an int8 one)."""
        return next(self.model.parameters(), torch.empty(0)).device

    def outputs(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Raw model outputs (logits, or scaled values) for preprocessed inputs."""
        return model_outputs(self.model, torch.as_tensor(x), PREDICT_BATCH, self.device)

    def decode(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """seq2seq: target ids (N, T) generated from sources (N, S) or whole inputs (N, S + T), per eval.decoding."""
        from lamina.nn.decoding import generate

        source = torch.as_tensor(x)[:, : int(self.preprocessor.inputs.tokenizer["source_length"])]
        return generate(self.model, source.to(self.device), self.preprocessor.target.length,
                        self.spec.eval.decoding, self.spec.eval.beam_width).cpu()

    def predict(self, raw: np.ndarray | list[str]) -> list[dict[str, Any]]:
        """Predictions for raw (unpreprocessed) array inputs, one dict per sample; seq2seq takes source strings."""
        if self.task == "seq2seq":
            from lamina.data.pairs import encode_sources

            ids = encode_sources(self.preprocessor, [str(text) for text in raw])
            return prediction_rows(self.decode(ids), self.preprocessor)
        x = self.preprocessor.inputs.transform_array(has_samples(raw, "input array"), "input array")
        check_finite_inputs(x, self.preprocessor.inputs, "input array")
        return prediction_rows(self.outputs(x), self.preprocessor)

    def predict_file(self, path: str | Path) -> Predictions:
        """Predictions for a table (CSV, Parquet, Feather/Arrow, JSON Lines; columns named like the training
        features), an NPZ (array ``x``), or an image file or folder of images (each row then starts with its
        ``file``); a table run's result also counts unseen and out-of-range values."""
        if is_image_input(path):
            return Predictions(self.predict_images(path))
        if self.spec.data.image_column is not None and table_format(path) is not None:
            return Predictions(self.predict_images(path, self.spec.data.image_column))
        inputs = self.preprocessor.inputs
        if table_format(path) is not None and len(inputs.shape) == 3 and not inputs.feature_names:
            raise DataError(f"{self.folder.root} was trained on image files; give it an image file or a folder of "
                            f"images, not the table {path}")
        if inputs.kind == "table" and table_format(path) is not None:
            x, report = inputs.table_inputs(self._table(path))
            check_finite_inputs(x, inputs, str(path))
            return Predictions(prediction_rows(self.outputs(x), self.preprocessor), report)
        x = self.read_inputs(path)
        check_finite_inputs(x, self.preprocessor.inputs, str(path))
        rows = prediction_rows(self.decode(x) if self.task == "seq2seq" else self.outputs(x), self.preprocessor)
        if inputs.kind == "series":
            from lamina.data.series import forecast_rows

            return Predictions(forecast_rows(rows, inputs))
        return Predictions(rows)

    def _table(self, path: str | Path) -> Table:
        """A table file of raw samples read columnar, with the missing-cell spellings the run trained with."""
        from lamina.data.readers import NA_VALUES

        na_values = self.preprocessor.inputs.na_values
        data = read_table(path, na_values=NA_VALUES if na_values is None else na_values)
        return Table(str(path), {name: data.column(name) for name in data.column_names})

    def predict_images(self, path: str | Path, column: str | None = None) -> list[dict[str, Any]]:
        """Predictions for an image file or a folder of images, decoded as the run's training images were;
        with ``column``, for the images a table lists in that column (paths relative to the table)."""
        from lamina.data.images import check_image_shape, image_files, listed_images, read_image_inputs

        shape = self.preprocessor.inputs.shape
        check_image_shape(shape, str(self.folder.root))
        files = listed_images(Path(path), column) if column is not None else image_files(Path(path))
        x = read_image_inputs(files, shape, self.image_resize)
        rows = prediction_rows(self.outputs(x), self.preprocessor)
        return [{"file": str(f), **row} for f, row in zip(files, rows)]

    @property
    def image_resize(self) -> str:
        """How this run's images were brought to its input size (data.image.resize; fit by default)."""
        return self.spec.data.image.resize if self.spec.data.image is not None else "fit"

    def read_inputs(self, path: str | Path) -> np.ndarray:
        """Model inputs from a table or NPZ of raw samples, through the run's saved preprocessing.

        For a seq2seq run the CSV's source column becomes padded token ids, ready for ``decode``.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv" and self.task == "seq2seq":
            from lamina.data.pairs import encode_sources

            source = self.preprocessor.inputs.tokenizer["source"]
            return encode_sources(self.preprocessor, read_csv(path).column(source))
        if self.preprocessor.inputs.kind in ("table", "array") and table_format(path) is not None:
            x = self.preprocessor.inputs.transform_table(self._table(path))
        elif suffix == ".csv":
            x = self.preprocessor.inputs.transform_table(read_csv(path))
        elif suffix == ".npz":
            key = self.spec.data.x_key
            x = self.preprocessor.inputs.transform_array(has_samples(read_npz(path, (key,))[key], f"{path} array '{key}'"),
                                                         f"{path} array '{key}'")
        else:
            raise DataError(f"input file {path} must be a .csv or .npz file (or a .parquet, .feather or .jsonl "
                            f"table); got '{suffix or 'no extension'}'")
        return x


def has_samples(x: Any, where: str) -> Any:
    """``x`` itself when it holds at least one sample; an empty batch such as a (0, 4) array is a DataError."""
    if len(x) == 0:
        raise DataError(f"{where} holds no samples (shape {tuple(np.shape(x))}); give at least one to predict")
    return x


class Predictions(list):
    """Prediction rows (a list of dicts), plus ``report``: for table inputs, the unseen categories and
    out-of-range values counted per column (an :class:`InputReport`), else None."""

    def __init__(self, rows: list[dict[str, Any]], report: InputReport | None = None) -> None:
        super().__init__(rows)
        self.report = report


def is_image_input(path: str | Path) -> bool:
    """True for a folder or a file with an image suffix (PNG, JPEG, BMP, WebP, GIF, TIFF)."""
    from lamina.data.images import IMAGE_SUFFIXES

    path = Path(path)
    return path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES


def prediction_rows(outputs: torch.Tensor, prep: Preprocessor) -> list[dict[str, Any]]:
    """Turn model outputs into labelled rows: the predicted class and class probabilities, or values."""
    target = prep.target
    if target.task == "seq2seq":
        from lamina.data.pairs import decode_ids

        ids = outputs.argmax(dim=-1) if outputs.is_floating_point() else outputs  # (N, T)
        return [{target.names[0]: decode_ids(row, target.classes)} for row in ids.tolist()]
    return labelled_rows(prediction_values(outputs, target), target)


def prediction_values(outputs: torch.Tensor, target: TargetPrep) -> np.ndarray:
    """Numeric predictions from model outputs: class probabilities (N, classes), or values in target units.

    A row whose output is not finite (inputs the model overflows on) is a DataError naming the row, never
    a NaN probability with success.
    """
    if target.task == "regression":
        values = target.decode_values(outputs.double().numpy())
    elif target.task == "binary":
        p1 = outputs.reshape(-1).sigmoid().numpy()
        values = np.stack([1 - p1, p1], axis=1)
    else:
        values = outputs.softmax(dim=1).numpy()
    check_finite_outputs(values)
    return values


def first_non_finite(values: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first value of a batch that is NaN or infinite, columns counted flat; None if all are finite."""
    flat = np.asarray(values).reshape(len(values), -1)
    if flat.dtype.kind != "f" or np.isfinite(flat).all():
        return None
    row, column = np.argwhere(~np.isfinite(flat))[0]
    return int(row), int(column)


def input_column_name(inputs: Any, column: int) -> str:
    """The input column that the model input's flat ``column`` comes from (a table column, a feature name)."""
    if inputs.kind == "table":
        widths = [1 if c.kind in ("numeric", "category_index") else len(c.categories) for c in inputs.columns]
        ends = np.cumsum(widths)
        return f"column '{inputs.columns[int(np.searchsorted(ends, column, side='right'))].name}'"
    names = inputs.feature_names
    return f"column '{names[column]}'" if column < len(names) else f"feature {column}"


def non_finite_input_message(x: np.ndarray, inputs: Any, where: str) -> tuple[int, str] | None:
    """For preprocessed inputs with a value that is not finite once scaled: (row, a message naming row and column)."""
    found = first_non_finite(x)
    if found is None:
        return None
    row, column = found
    return row, (f"{where}: row {row} (from 0), {input_column_name(inputs, column)} is not finite once scaled by the run's "
                 "preprocessing (a value too large for float32); the model cannot predict from it")


def check_finite_inputs(x: np.ndarray, inputs: Any, where: str) -> None:
    """Raise a DataError naming the row and column of preprocessed inputs that overflowed (e.g. 1e300 scaled)."""
    found = non_finite_input_message(x, inputs, where)
    if found is not None:
        raise DataError(found[1])


def check_finite_outputs(values: np.ndarray) -> None:
    """Raise a DataError naming the first row whose prediction is not finite."""
    found = first_non_finite(values)
    if found is not None:
        raise DataError(f"row {found[0]} (from 0): the model's output is not finite for this input (values too large "
                        "for the model); no prediction is given for it")


@functools.lru_cache(maxsize=32)
def _probability_keys(classes: tuple[str, ...]) -> tuple[str, ...]:
    """The ``prob_<class>`` keys of a row, built once per class list (formatting them costs as much as a small model)."""
    return tuple(f"prob_{c}" for c in classes)


def labelled_rows(values: np.ndarray, target: TargetPrep) -> list[dict[str, Any]]:
    """Rows for numeric predictions (from :func:`prediction_values`): class and ``prob_<class>``, or named values."""
    if target.task == "regression":
        return [{name: float(v) for name, v in zip(target.names, row)} for row in values.tolist()]
    label, classes = target.names[0], target.classes
    keys = _probability_keys(tuple(classes))
    rows = []
    for probs in values.tolist():
        row = {label: classes[probs.index(max(probs))]}  # the first most probable class, as argmax
        row.update(zip(keys, probs))
        rows.append(row)
    return rows


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """Prediction rows as CSV text; floats keep 9 significant digits (float32 round-trips exactly)."""
    if not rows:
        raise DataError("there are no rows to write")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: format(v, ".9g") if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


def write_rows_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write prediction rows as CSV, atomically, into a regular file (see :func:`check_output_file`)."""
    check_output_file(Path(path))
    atomic_write_text(Path(path), rows_to_csv(rows))


def check_output_file(path: Path) -> None:
    """Refuse an output path that is not a regular file or a new name: a folder, a FIFO, a device, a socket.

    The atomic write replaces whatever the path names, so ``--out /dev/null`` run as root would replace the
    system's /dev/null with a CSV file; only a regular file (or a symbolic link to one) may be replaced.
    """
    import stat

    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        existing = next(parent for parent in path.parents if parent.exists())
        if not existing.is_dir():  # missing folders are made; one named like an existing file cannot be
            raise DataError(f"output file {path}: {existing} is not a folder") from None
        return
    except OSError as exc:
        raise DataError(f"output file {path} cannot be checked: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
        raise DataError(f"output file {path} is {kind}; predictions are written only to a regular file")


def load_run(path: str | Path, device: str = "cpu") -> Run:
    """Rebuild a trained run from its folder: config, preprocessing and weights (nothing unpickled)."""
    folder = RunFolder(path)
    if not folder.root.is_dir():
        raise RunFolderError(f"run folder {folder.root} does not exist")
    spec = parse_run_spec(folder.read_config(), str(folder.config))
    if spec.generative is not None:
        raise RunFolderError(f"{folder.root} is a generative ({spec.generative.model}) run: use lamina evaluate, "
                             "embed, generate or anomaly on it")
    prep = Preprocessor.from_json(read_json(folder.preprocess), str(folder.preprocess))
    if not folder.weights.is_file():
        raise RunFolderError(f"{folder.weights} is missing; the run has no trained weights (did training finish?)")
    built = build_model(spec.model, tuple(prep.inputs.shape), prep.target.output_shape,
                        prep.inputs.vocab_size, prep.inputs.category_sizes)
    weights = load_tensors(folder.weights)
    quantized = int8_format(folder.weights)
    if quantized:  # written by lamina compress --quantize dynamic|static|qat (CPU only)
        return Run(folder, spec, prep, load_int8(built.model, weights, str(folder.weights), quantized,
                                                 tuple(prep.inputs.shape)))
    expected = built.model.state_dict()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise RunFolderError(
            f"{folder.weights} does not match config.yaml's model: "
            + (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}")
        )
    for key in expected:
        tensor = weights[key]
        if tensor.shape != expected[key].shape:
            raise RunFolderError(f"{folder.weights}: '{key}' has shape {tuple(tensor.shape)}; "
                                 f"the model needs {tuple(expected[key].shape)}")
    built.model.load_state_dict(weights)
    built.model.to(resolve_device(device)).eval()
    return Run(folder, spec, prep, built.model)
