"""`lamina classify` and `lamina embed` on texts: the must-show accuracies on the shipped four-topic set, the files
written, and one-line errors for bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lamina.cli import app
from lamina.lm.encoder import MiniLM

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
TOPICS = "sports, cooking, technology, weather"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _accuracy(rows: list[dict[str, str]], truth: list[dict[str, str]]) -> float:
    return sum(r["label"] == t["topic"] for r, t in zip(rows, truth)) / len(truth)


def test_zero_shot_and_five_shot_label_the_four_topics(tmp_path: Path) -> None:
    runner = CliRunner()
    truth = _rows(DATA / "topics.csv")
    halves = {"a": truth[:200], "b": truth[200:]}  # each mode labels 200 texts: the encoder's forward is the cost
    for name, rows in halves.items():
        with (tmp_path / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "topic"])
            writer.writeheader()
            writer.writerows(rows)
    zero = runner.invoke(app, ["classify", str(tmp_path / "a.csv"), "--labels", TOPICS, "--truth", "topic",
                               "--out", str(tmp_path / "zero.csv")])
    assert zero.exit_code == 0, zero.output
    rows = _rows(tmp_path / "zero.csv")
    assert len(rows) == 200 and list(rows[0]) == ["text", "label", "score_sports", "score_cooking",
                                                  "score_technology", "score_weather"]
    assert _accuracy(rows, halves["a"]) >= 0.80  # measured 0.9875 on all 400
    assert "accuracy against 'topic'" in zero.output and "zero-shot" in zero.output

    few = runner.invoke(app, ["classify", str(tmp_path / "b.csv"), "--support", str(DATA / "topics_support.csv"),
                              "--out", str(tmp_path / "few.csv")])  # 5 examples per topic, none in topics.csv
    assert few.exit_code == 0, few.output
    rows = _rows(tmp_path / "few.csv")
    assert _accuracy(rows, halves["b"]) >= 0.85  # measured 0.9775 on all 400
    scores = [float(r[f"score_{r['label']}"]) for r in rows]
    assert all(s == max(float(r[k]) for k in r if k.startswith("score_")) for s, r in zip(scores, rows))


def test_embed_writes_npz_and_parquet_and_keeps_the_run_use(tmp_path: Path) -> None:
    runner = CliRunner()
    texts = [r["text"] for r in _rows(DATA / "topics_new.csv")]
    npz = runner.invoke(app, ["embed", str(DATA / "topics_new.csv"), "--output", str(tmp_path / "e.npz")])
    assert npz.exit_code == 0, npz.output
    with np.load(tmp_path / "e.npz", allow_pickle=False) as saved:
        vectors, names = saved["embeddings"], saved["text"].tolist()
    assert vectors.shape == (8, 384) and vectors.dtype == np.float32 and names == texts
    assert np.allclose(vectors, MiniLM().embed(texts).numpy(), atol=1e-6)

    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(texts[:3]) + "\n\n", encoding="utf-8")
    parquet = runner.invoke(app, ["embed", "--texts", str(lines), "--out", str(tmp_path / "e.parquet")])
    assert parquet.exit_code == 0, parquet.output
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "e.parquet")
    assert table.column("text").to_pylist() == texts[:3]
    assert np.allclose(np.array(table.column("embedding").to_pylist()), vectors[:3], atol=1e-6)

    old = runner.invoke(app, ["embed", str(tmp_path)])  # a folder is a run: the old use wants --input
    assert old.exit_code == 2 and "needs --input" in old.output


@pytest.mark.parametrize("args, message", [
    (["classify", "X"], "give exactly one"),
    (["classify", "X", "--labels", "sports"], "two or more different"),
    (["classify", "X", "--labels", "a, b", "--template", "about"], "must hold {}"),
    (["classify", "X", "--labels", "a, b", "--out", "p.txt"], "must be a .csv"),
    (["classify", str(DATA / "topics.csv"), "--labels", "a, b", "--column", "body"], "has no text column (--column) 'body'"),
    (["embed", str(DATA / "topics_new.csv"), "--output", "e.json"], "must end in .npz or .parquet"),
    (["embed", str(DATA / "topics_new.csv"), "--texts", str(DATA / "topics_new.csv")], "not both"),
])
def test_bad_requests_get_one_error_line(args: list[str], message: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_classify_scores_are_cosine_similarities() -> None:
    from lamina.lm.classify import prediction_rows

    rows = prediction_rows(["a", "b"], ["x", "y"], torch.tensor([[0.2, 0.7], [0.9, -0.1]]))
    assert [r["label"] for r in rows] == ["y", "x"] and rows[1]["score_y"] == pytest.approx(-0.1)
