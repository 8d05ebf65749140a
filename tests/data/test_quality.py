"""The data-quality report counts exactly what is wrong with a table, and label errors are found."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lamina.cli import app
from lamina.data.label_errors import confident_learning, out_of_fold_probabilities
from lamina.data.quality import quality_report, read_columns

runner = CliRunner()
BASE, COPIES, MISSING_WEIGHT = 200, 20, 7


def messy_rows() -> list[list[str]]:
    """200 rows plus 20 exact copies (10%), one label misspelled, a constant and an id column."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(BASE):
        size = rng.normal(10, 2)
        weight = "" if i % 29 == 3 else f"{rng.normal(50, 10):.3f}"
        rows.append([f"C{1000 + i}", f"{size:.3f}", weight, "NL", "cat" if size > 10 else "dog"])
    typo = next(i for i in range(COPIES, BASE) if rows[i][4] == "dog")
    rows[typo][4] = "dgo"
    return rows + [list(rows[i]) for i in range(COPIES)]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("id,size,weight,country,label\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return path


def test_report_counts_each_problem_exactly(tmp_path: Path) -> None:
    rows = messy_rows()
    columns = read_columns(write_csv(tmp_path / "messy.csv", rows))
    splits = {"train": np.arange(BASE), "test": np.arange(BASE, BASE + COPIES)}
    report = quality_report(columns, "label", splits, "messy.csv")
    missing = sum(1 for r in rows if r[2] == "")
    assert (report["rows"], report["columns"]) == (BASE + COPIES, 5)
    assert report["missing"] == {"weight": missing} and missing == 7 + sum(1 for i in range(COPIES) if i % 29 == 3)
    assert report["duplicates"] == {"rows": COPIES, "groups": COPIES}
    assert report["leakage"] == {"test_in_train": COPIES}
    assert report["constant_columns"] == ["country"] and report["id_like_columns"] == ["id"]
    assert report["classes"]["rare"] == [{"class": "dgo", "rows": 1, "resembles": "dog"}]
    assert any("20 test rows" in w for w in report["warnings"]) and any("'dgo'" in w for w in report["warnings"])


def test_inspect_cli_prints_and_writes_the_report(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "messy.csv", messy_rows())
    result = runner.invoke(app, ["inspect", str(data), "--target", "label", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "exact duplicate rows: 20" in result.output and "very small class 'dgo': 1 rows" in result.output
    assert "constant columns: country" in result.output and "id-like columns: id" in result.output
    saved = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert saved["duplicates"]["rows"] == COPIES and sum(saved["leakage"].values()) > 0
    assert "label_errors" in saved and "Class balance" in (tmp_path / "out" / "quality.html").read_text()


@pytest.mark.parametrize("args, words", [(["--target", "labl"], "no target column 'labl'. Did you mean 'label'?"),
                                          (["--target", "label", "--out", "{tmp}/x"], None)])
def test_inspect_bad_input_is_one_error_line(tmp_path: Path, args: list[str], words: str | None) -> None:
    data = write_csv(tmp_path / "messy.csv", messy_rows())
    if words is None:  # a file that is not a table
        data = tmp_path / "broken.parquet"
        data.write_bytes(b"not parquet")
        words = "is not a readable parquet file"
    result = runner.invoke(app, ["inspect", str(data), *[a.replace("{tmp}", str(tmp_path)) for a in args]])
    assert result.exit_code == 2
    assert result.output.count("error:") == 1 and words in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confident_learning_finds_flipped_digit_labels(seed: int) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    labels = digits.target.copy()
    flipped = rng.choice(len(labels), int(0.05 * len(labels)), replace=False)
    labels[flipped] = (labels[flipped] + rng.integers(1, 10, len(flipped))) % 10
    _, _, flagged = confident_learning(out_of_fold_probabilities(digits.data, labels, seed=seed), labels)
    hits = flagged[flipped].sum()
    assert hits / len(flipped) >= 0.6  # measured 0.73-0.87 over seeds 0-2
    assert hits / flagged.sum() >= 0.5  # measured 0.75-0.80


def test_confident_learning_follows_the_paper_definition() -> None:
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.35, 0.65], [0.85, 0.15]])
    given = np.array([0, 0, 1, 1, 1])
    thresholds, confident, flagged = confident_learning(probs, given)
    assert np.allclose(thresholds, [0.8, (0.8 + 0.65 + 0.15) / 3])  # mean self-confidence per class
    assert confident.tolist() == [0, -1, 1, 1, 0]  # row 1 reaches no threshold; row 4 reaches class 0's only
    assert flagged.tolist() == [False, False, False, False, True]


def test_run_warns_before_training_and_reports_quality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lamina.trainer import train

    rows = [r for r in messy_rows()[:BASE] for _ in range(2)]  # every row twice: test rows leak from training
    rows.remove(next(r for r in rows if r[4] == "dgo"))  # but the misspelled label once
    data = write_csv(tmp_path / "twice.csv", rows)
    run = train({"name": "twice", "runs_dir": str(tmp_path / "runs"), "seed": 0,
                        "data": {"path": str(data), "target": "label", "drop": ["id"]},
                        "model": {"arch": "mlp", "hidden": [8]},
                        "train": {"epochs": 1, "tensorboard": False, "diagnose": False}}, progress="none")
    err = capsys.readouterr().err
    saved = json.loads((run.folder.root / "quality.json").read_text())
    assert saved["duplicates"]["rows"] == BASE - 1 and saved["leakage"]["test_in_train"] > 0
    assert f"warning: {saved['leakage']['test_in_train']} test rows have an exact copy" in err
    assert "warning: class 'dgo' has a single row (a typo of 'dog'?)" in err
    assert "Data quality (before training)" in (run.folder.root / "report.html").read_text()


def test_training_read_makes_the_report_without_reading_the_file_again(tmp_path: Path) -> None:
    from lamina.config import DataSpec
    from lamina.data.prepare import prepare_data
    from lamina.data.quality import run_quality

    rows = messy_rows()
    rows[150][4] = ""  # a row without a target (not one of the copied rows): training drops it, the report still counts it
    path = write_csv(tmp_path / "messy.csv", rows)
    spec = DataSpec(path=str(path), target="label", split={"val": 0.2, "test": 0.2, "seed": 0})
    data = prepare_data(spec, quality=True)
    expected = read_columns(path)
    assert prepare_data(spec).quality is None  # only a training read (quality=True) makes the report
    path.unlink()  # the report must come from the columns training read
    saved = run_quality(spec, data, tmp_path)
    assert saved == json.loads((tmp_path / "quality.json").read_text())
    assert saved["rows"] == BASE + COPIES and saved["classes"]["missing_labels"] == 1
    assert saved["duplicates"] == {"rows": COPIES, "groups": COPIES} and saved["id_like_columns"] == ["id"]
    kept = np.flatnonzero(np.arange(BASE + COPIES) != 150)  # the split's rows index the kept rows
    inputs = {name: column.take(kept) for name, column in expected.items()}
    splits = {"train": data.train.rows, "val": data.val.rows, "test": data.test.rows}
    assert saved["leakage"] == quality_report(inputs, "label", splits)["leakage"] and sum(saved["leakage"].values()) > 0
    assert data.timings["quality_seconds"] >= 0
