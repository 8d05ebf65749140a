"""The run folder: what it holds, how it rebuilds the model, and how predict matches evaluate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lamina.config import parse_run_spec
from lamina.errors import DataError, RunFolderError
from lamina.evaluate.run import evaluate_run
from lamina.runs import RunFolder, load_run
from lamina.trainer import train
from tests.conftest import quick_spec


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory: pytest.TempPathFactory):
    from tests.conftest import tabular_csv

    tmp = tmp_path_factory.mktemp("csvrun")
    path = tabular_csv.__wrapped__(tmp)
    raw = quick_spec(tmp, data={"path": str(path), "target": "label"}, train={"epochs": 30, "tensorboard": True, "optimizer": {"lr": 0.01}})
    return train(parse_run_spec(raw), progress="none"), path


def test_run_folder_holds_every_artifact(csv_run) -> None:
    run, _ = csv_run
    root = run.folder.root
    for name in ("config.yaml", "model.safetensors", "preprocess.json", "metrics.jsonl", "losses.jsonl",
                 "summary.json", "evaluation.json", "predictions/test.csv", "checkpoints/best.json"):
        assert (root / name).is_file(), name
    summary = json.loads((root / "summary.json").read_text())
    steps = sorted(p.name for p in (root / "checkpoints").iterdir() if p.is_dir())
    per_epoch = -(-summary["samples"]["train"] // 64)
    best = json.loads((root / "checkpoints" / "best.json").read_text())["folder"]
    assert steps[-1] == f"step-{30 * per_epoch:09d}" and best in steps
    assert len(steps) <= 3  # train.checkpoint.keep (2) and the best one; epoch ends are saved 30 s apart
    for name in ("model.safetensors", "optimizer.safetensors", "state.safetensors", "state.json", "manifest.json"):
        assert (root / "checkpoints" / steps[-1] / name).is_file(), name
    assert any((root / "tensorboard").iterdir())
    assert not list(root.rglob("*.pkl")) and not list(root.rglob("*.pt"))
    assert summary["test"]["accuracy"] > 0.8 and summary["epochs_run"] == 30
    config = yaml.safe_load((root / "config.yaml").read_text())
    assert config["train"]["optimizer"]["lr"] == 0.01 and config["model"]["hidden"] == [16]


def test_predict_on_csv_reproduces_evaluate_exactly(csv_run, tmp_path: Path) -> None:
    run, source = csv_run
    report = evaluate_run(run.folder.root)
    with open(report["predictions"]) as handle:
        scored = list(csv.DictReader(handle))
    lines = source.read_text().splitlines()
    rows = [int(r["row"]) for r in scored]
    subset = tmp_path / "subset.csv"
    subset.write_text("\n".join([lines[0].replace(",label", "")] + [lines[r + 1].rsplit(",", 1)[0] for r in rows]) + "\n")
    predicted = load_run(run.folder.root).predict_file(subset)
    assert len(predicted) == len(scored)
    for mine, theirs in zip(predicted, scored):
        assert {k: format(v, ".9g") if isinstance(v, float) else v for k, v in mine.items()} == \
            {k: v for k, v in theirs.items() if k not in ("row", "true")}


def test_new_runs_never_overwrite_old_ones(tmp_path: Path) -> None:
    first = RunFolder.create(tmp_path, "x")
    second = RunFolder.create(tmp_path, "x")
    assert first.root.name == "x" and second.root.name == "x-2"


def test_missing_weights_are_named(csv_run, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(csv_run[0].folder.root, copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(RunFolderError, match="model.safetensors is missing"):
        load_run(copy)


def test_foreign_preprocess_file_is_refused(csv_run, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(csv_run[0].folder.root, copy)
    (copy / "preprocess.json").write_text('{"inputs": 1}')
    with pytest.raises(RunFolderError, match="preprocess.json is not a lamina preprocessing file"):
        load_run(copy)


def test_weights_that_do_not_fit_the_config_are_refused(csv_run, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(csv_run[0].folder.root, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["model"]["hidden"] = [17]
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(RunFolderError, match=r"model.safetensors: 'layers.0.weight' has shape \(16, 5\); the model needs \(17, 5\)"):
        load_run(copy)


def test_predict_refuses_inputs_missing_a_feature(csv_run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("size,colour\n1.0,red\n")
    with pytest.raises(DataError, match="has no feature column 'weight'"):
        load_run(csv_run[0].folder.root).predict_file(bad)


def test_predict_arrays_for_a_builtin_run(tmp_path: Path) -> None:
    run = train(parse_run_spec(quick_spec(tmp_path, train={"epochs": 20, "batch_size": 16, "tensorboard": False,
                                                            "optimizer": {"lr": 0.01}})), progress="none")
    from sklearn.datasets import load_iris

    iris = load_iris()
    rows = run.predict(iris.data[:150])
    accuracy = np.mean([r["target"] == iris.target_names[t] for r, t in zip(rows, iris.target)])
    assert accuracy > 0.85
    assert abs(sum(v for k, v in rows[0].items() if k.startswith("prob_")) - 1) < 1e-5
    with pytest.raises(DataError, match="each sample must have 4 values"):
        run.predict(iris.data[:3, :3])


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory):
    """A run trained on a messy table (id, free text, dates, formatted numbers, a category), and a file of new rows
    with one unseen category and two out-of-range amounts."""
    from tests.data.test_schema import messy_table

    tmp = tmp_path_factory.mktemp("tablerun")
    path = messy_table(tmp / "m.csv", 240)
    raw = quick_spec(tmp, data={"path": str(path), "target": "label"}, train={"epochs": 2, "tensorboard": False,
                                                                              "diagnose": False})
    new = tmp / "new.csv"
    new.write_text("row,code,name,signup,amount,price,share,const,empty,colour\n"
                   '1,K1,Al B,2020-02-01,"99,999.00",$500.00,10%,same,,purple\n'
                   '2,K2,Al C,2020-03-01,50.00,$500.00,10%,same,,red\n'
                   '3,K3,Al D,2020-04-01,"1,000.00",$500.00,10%,same,,green\n')
    return train(parse_run_spec(raw), progress="none"), new


def test_table_run_saves_its_schema_and_phase_timings(table_run) -> None:
    run, _ = table_run
    schema = json.loads((run.folder.root / "schema.json").read_text())["columns"]
    assert {r["column"]: r["kind"] for r in schema}["signup"] == "datetime"
    timings = json.loads(run.folder.summary.read_text())["timings"]
    assert set(timings) == {"read_seconds", "prepare_seconds", "quality_seconds", "train_seconds", "test_seconds"}


def test_unseen_categories_and_out_of_range_values_are_counted_in_python(table_run) -> None:
    run, new = table_run
    rows = run.predict_file(new)
    assert len(rows) == 3
    assert rows.report.unseen == {"colour": 1} and rows.report.out_of_range == {"amount": 2}


def test_unseen_categories_are_printed_by_the_cli(table_run) -> None:
    from typer.testing import CliRunner

    from lamina.cli import app

    run, new = table_run
    result = CliRunner().invoke(app, ["predict", str(run.folder.root), str(new)])
    assert result.exit_code == 0, result.output
    assert "note: 1 unseen categories in 'colour'; 2 values outside the training range in 'amount'" in result.output


def test_unseen_categories_are_in_the_server_response_metadata(table_run) -> None:
    from lamina.serve.app import Predictor, answer

    run, _ = table_run
    record = {"signup": "2020-02-01", "amount": 99999, "price": 500.0, "share": 0.1, "colour": "purple"}
    status, content = answer(Predictor(run), json.dumps({"instances": [record, {**record, "colour": "red"}]}).encode())
    body = json.loads(content)
    assert status == 200 and len(body["predictions"]) == 2, body
    assert body["metadata"]["inputs"] == {"unseen_categories": {"colour": 1}, "out_of_range": {"amount": 2}}


def test_a_run_saved_before_the_columnar_reader_still_predicts(csv_run, tmp_path: Path) -> None:
    import shutil

    run, path = csv_run
    old = tmp_path / "old"
    shutil.copytree(run.folder.root, old)
    saved = json.loads((old / "preprocess.json").read_text())
    for key in ("na_values", "nonfinite"):
        saved["inputs"].pop(key)
    for column in saved["inputs"]["columns"]:
        for key in ("other", "low", "high", "parts", "fills", "means", "stds"):
            column.pop(key)
    (old / "preprocess.json").write_text(json.dumps(saved))
    legacy = load_run(old)
    assert legacy.preprocessor.inputs.na_values is None
    expected = run.predict_file(path)
    assert legacy.predict_file(path) == expected
    header, first = path.read_text().splitlines()[:2]
    cells = first.split(",")
    fill = legacy.preprocessor.inputs.columns[2].fill
    unknown, filled = tmp_path / "q.csv", tmp_path / "f.csv"  # '?' was a missing cell before data.na_values
    unknown.write_text(f"{header}\n{','.join(cells[:2] + ['?'] + cells[3:])}\n")
    filled.write_text(f"{header}\n{','.join(cells[:2] + [fill] + cells[3:])}\n")
    assert legacy.predict_file(unknown) == legacy.predict_file(filled)
    assert run.predict_file(unknown).report.unseen == {"colour": 1}  # a new run: '?' is a value it never saw


def test_image_table_run_predicts_the_listed_images_and_refuses_other_tables(tmp_path: Path) -> None:
    from tests.data.image_folders import save_image

    rng = np.random.default_rng(0)
    rows = []
    for label in ("dark", "light"):
        (tmp_path / "img" / label).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 100, (8, 8)) + (150 if label == "light" else 0)
            save_image(pixels.astype(np.uint8), tmp_path / "img" / label / f"{i}", 0)
            rows.append(f"img/{label}/{i}.png,{label}")
    (tmp_path / "list.csv").write_text("file,shade\n" + "\n".join(rows) + "\n")
    run = train({"runs_dir": str(tmp_path / "runs"), "train": {"epochs": 20, "batch_size": 8, "tensorboard": False,
                                                         "diagnose": False, "optimizer": {"lr": 0.01}},
                 "model": {"arch": "cnn", "channels": [4], "dense": [8]},
                 "data": {"path": str(tmp_path / "list.csv"), "image_column": "file", "target": "shade",
                          "image": {"cache": str(tmp_path / "cache")}}}, progress="none")
    listed = load_run(run.folder.root).predict_file(tmp_path / "list.csv")
    folder = load_run(run.folder.root).predict_file(tmp_path / "img")
    assert [r["file"] for r in listed] == [str(tmp_path / "img" / r.split(",")[0][4:]) for r in rows]
    assert sorted(listed, key=lambda r: r["file"]) == sorted(folder, key=lambda r: r["file"])  # same numbers
    assert sum(r["label"] == r["file"].split("/")[-2] for r in listed) >= 20  # it learned dark from light
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="has no column 'file' \\(data.image_column\\)"):
        run.predict_file(tmp_path / "other.csv")
    folder_run = train({"runs_dir": str(tmp_path / "runs"), "name": "folder", "train": {"epochs": 1, "diagnose": False},
                        "data": {"path": str(tmp_path / "img"), "image": {"cache": str(tmp_path / "cache")}}},
                       progress="none")
    with pytest.raises(DataError, match="was trained on image files; give it an image file or a folder of images"):
        folder_run.predict_file(tmp_path / "other.csv")
