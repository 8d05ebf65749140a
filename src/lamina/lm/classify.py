"""Text files in, labelled or embedded texts out, with the pretrained MiniLM encoder: ``lamina classify`` and
``lamina embed`` on texts.

A text file is a CSV with a header (the texts in ``column``: by default a column named ``text``, or the only
column) or a .txt file with one text per line. Zero-shot classes are the label names themselves (or a sentence
made from each by ``template``); few-shot classes are the prototypes of a support CSV's labelled examples
(k per class). Each text gets the most similar class and its cosine similarity to every class. Outputs are
written atomically: predictions as CSV, embeddings as NPZ (``embeddings`` (N, 384) float32, ``text``) or Parquet
(a ``text`` column and a fixed-size list column ``embedding``), chosen by the output's extension.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lamina.data.readers import Table, read_csv
from lamina.errors import ConfigError, DataError
from lamina.files import atomic_write_bytes
from lamina.lm.encoder import MiniLM
from lamina.lm.fewshot import accuracy, few_shot_scores, zero_shot_scores
from lamina.runs import check_output_file, write_rows_csv

EMBEDDING_FORMATS = (".npz", ".parquet")


def read_text_table(path: str | Path) -> Table:
    """A CSV of texts, or a .txt file as a one-column table ``text`` (one text per non-empty line)."""
    path = Path(path)
    if path.suffix.lower() != ".txt":
        return read_csv(path)
    if not path.is_file():
        raise DataError(f"text file {path} does not exist")
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    if not lines:
        raise DataError(f"{path} holds no text: one text per line is expected")
    return Table(str(path), {"text": lines})


def text_column(table: Table, column: str | None) -> str:
    """The column holding the texts: ``column`` when given, else ``text``, else the table's only column."""
    if column is not None:
        table.column(column, "text column (--column)")
        return column
    if "text" in table.columns:
        return "text"
    if len(table.columns) == 1:
        return next(iter(table.columns))
    raise DataError(f"{table.source} has no column 'text'; name the text column with --column "
                    f"(columns: {', '.join(table.columns)})")


def parse_labels(labels: str) -> list[str]:
    """Class names from a comma-separated list (``"sports, politics"``): stripped, at least two, no repeats."""
    names = [name.strip() for name in labels.split(",") if name.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ConfigError(f"labels must be two or more different comma-separated class names; got {labels!r}")
    return names


@dataclass
class Classified:
    """What :func:`classify_file` returns: the written file, the rows, and the accuracy when truth was given."""

    path: Path
    rows: list[dict[str, object]]
    classes: list[str]
    mode: str
    accuracy: float | None = None


def classify_file(path: str | Path, labels: str | None = None, support: str | Path | None = None,
                  column: str | None = None, label_column: str | None = None, template: str = "{}",
                  truth: str | None = None, out: str | Path | None = None,
                  encoder: MiniLM | None = None) -> Classified:
    """Label each text of a file zero-shot (``labels``) or few-shot (a ``support`` CSV of labelled examples) and
    write ``text, label, score_<class>...`` (cosine similarities) as CSV; with ``truth`` (a column of the true
    classes) the accuracy is measured too."""
    if (labels is None) == (support is None):
        raise ConfigError("labels (zero-shot class names) or support (a CSV of labelled examples, few-shot): "
                          "give exactly one")
    if "{}" not in template:
        raise ConfigError(f"template must hold {{}} where the class name goes; got {template!r}")
    target = Path(out) if out is not None else Path(f"{Path(path).stem}.classified.csv")
    if target.suffix.lower() != ".csv":
        raise ConfigError(f"out must be a .csv file; got {target}")
    check_output_file(target)
    names = parse_labels(labels) if labels is not None else []
    table = read_text_table(path)
    texts = table.column(text_column(table, column))
    pairs = support_pairs(support, column, label_column) if support is not None else []
    embed = (encoder or MiniLM()).embed  # loaded once the input is known to be good
    if labels is not None:
        classes, scores = zero_shot_scores(embed, texts, {n: template.format(n) for n in names})
        mode = "zero-shot"
    else:
        classes, scores = few_shot_scores(embed, pairs, texts)
        mode = f"few-shot ({min(sum(y == c for _, y in pairs) for c in classes)}+ examples per class)"
    rows = prediction_rows(texts, classes, scores)
    write_rows_csv(target, rows)
    score = None
    if truth is not None:
        score = accuracy([r["label"] for r in rows], table.column(truth, "truth column (--truth)"))
    return Classified(target, rows, classes, mode, score)


def support_pairs(path: str | Path, column: str | None, label_column: str | None) -> list[tuple[str, str]]:
    """(text, label) pairs of a support CSV: its text column and its label column (``label``, or the other one)."""
    table = read_csv(path)
    texts = text_column(table, column)
    if label_column is None:
        others = [c for c in table.columns if c != texts]
        if "label" in table.columns:
            label_column = "label"
        elif len(others) == 1:
            label_column = others[0]
        else:
            raise DataError(f"{table.source}: name the label column with --label-column (columns: "
                            f"{', '.join(table.columns)})")
    labels = table.column(label_column, "label column (--label-column)")
    if len(set(labels)) < 2:
        raise DataError(f"{table.source}: the support examples must hold at least two classes in '{label_column}'; "
                        f"got {sorted(set(labels))}")
    return list(zip(table.column(texts), labels))


def prediction_rows(texts: list[str], classes: list[str], scores: torch.Tensor) -> list[dict[str, object]]:
    """One row per text: the text, the most similar class and the similarity to every class."""
    rows = []
    for text, row in zip(texts, scores.tolist()):
        best = max(range(len(classes)), key=row.__getitem__)
        rows.append({"text": text, "label": classes[best], **{f"score_{c}": float(v) for c, v in zip(classes, row)}})
    return rows


def embed_file(path: str | Path, column: str | None = None, out: str | Path | None = None,
               encoder: MiniLM | None = None) -> tuple[Path, int]:
    """Write the MiniLM embedding of each text of a file (NPZ or Parquet by ``out``'s extension); returns the
    path and the number of texts."""
    target = Path(out) if out is not None else Path(f"{Path(path).stem}.embeddings.npz")
    if target.suffix.lower() not in EMBEDDING_FORMATS:
        raise ConfigError(f"output must end in .npz or .parquet for text embeddings; got {target}")
    check_output_file(target)
    table = read_text_table(path)
    texts = table.column(text_column(table, column))
    vectors = (encoder or MiniLM()).embed(texts).numpy().astype(np.float32)  # (N, D)
    atomic_write_bytes(target, npz_bytes(texts, vectors) if target.suffix.lower() == ".npz"
                       else parquet_bytes(texts, vectors))
    return target, len(texts)


def npz_bytes(texts: list[str], vectors: np.ndarray) -> bytes:
    """An NPZ of ``embeddings`` (N, D) and ``text`` (N,) unicode, readable with ``allow_pickle=False``."""
    buffer = io.BytesIO()
    np.savez(buffer, embeddings=vectors, text=np.array(texts, dtype=str))
    return buffer.getvalue()


def parquet_bytes(texts: list[str], vectors: np.ndarray) -> bytes:
    """A Parquet table of ``text`` and ``embedding`` (a fixed-size list of float32)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    table = pa.table({"text": pa.array(texts, type=pa.string()),
                      "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
