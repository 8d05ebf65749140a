"""Arrays and frames from Python: lamina.fit(config, data=...) (issue 20, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

import lamina
from lamina.cli import app
from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError, DataError
from lamina.trainer import spec_with_data


def _config(tmp_path: Path, **train) -> dict:
    return {"name": "mem", "runs_dir": str(tmp_path / "runs"), "model": {"arch": "mlp", "hidden": [16]},
            "train": {"epochs": 25, "batch_size": 16, "tensorboard": False, "diagnose": False,
                      "optimizer": {"lr": 0.01}, **train}}


def _iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def test_arrays_train_a_run_that_rebuilds_and_predicts_from_a_csv(tmp_path: Path) -> None:
    x, y = _iris()
    run = lamina.fit(_config(tmp_path), data=(x, y), progress="none", report=False)
    summary = json.loads(run.folder.summary.read_text())
    assert summary["task"] == "multiclass" and summary["data"] == "arrays X (150, 4), y (150,)"
    assert summary["test"]["accuracy"] >= 0.9
    assert yaml.safe_load(run.folder.config.read_text())["data"]["python"] == "arrays"
    loaded = lamina.load_run(run.folder.root)  # rebuilt from the folder alone: the data is not saved
    rows = loaded.predict(x[:5])
    assert [r["y"] for r in rows] == ["0"] * 5
    table = tmp_path / "new.csv"
    table.write_text("x0,x1,x2,x3\n" + "\n".join(",".join(map(str, r)) for r in x[:5]) + "\n")
    result = CliRunner().invoke(app, ["predict", str(run.folder.root), str(table)])
    assert result.exit_code == 0, result.output
    assert result.output.count("\n0,") == 5  # `lamina predict RUN file.csv` gives the same class as Run.predict
    assert [r["prob_0"] for r in loaded.predict_file(table)] == pytest.approx([r["prob_0"] for r in rows], abs=1e-6)
    evaluated = CliRunner().invoke(app, ["evaluate", str(run.folder.root)])  # no file to rebuild the split from
    assert evaluated.exit_code == 2 and "error: this run was trained on data handed in from Python" in evaluated.output


def test_task_rule_float_y_is_regression_unless_the_config_says_otherwise(tmp_path: Path) -> None:
    x, y = _iris()
    spec, held = spec_with_data(_config(tmp_path), (x[:, :3], x[:, 3]))  # petal width from the other three
    assert prepare_data(spec.data, given=held).task == "regression"
    spec, held = spec_with_data(_config(tmp_path), (x, y.astype(float)))
    assert prepare_data(spec.data, given=held).task == "regression"  # float labels: regression by the dtype rule
    config = _config(tmp_path)
    config["data"] = {"task": "multiclass"}
    spec, held = spec_with_data(config, (x, y.astype(float)))
    assert prepare_data(spec.data, given=held).preprocessor.target.classes == ["0", "1", "2"]
    spec, held = spec_with_data(_config(tmp_path), (x, np.array(["a", "b"] * 75)))
    assert prepare_data(spec.data, given=held).task == "binary"


def test_validation_arrays_are_the_validation_split_and_images_keep_their_shape(tmp_path: Path) -> None:
    x, y = _iris()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    spec, held = spec_with_data(_config(tmp_path), (x[::2], labels[::2], x[1::2], labels[1::2]))
    data = prepare_data(spec.data, given=held)
    assert (len(data.train), len(data.val), len(data.test)) == (75, 75, 0)
    assert data.preprocessor.target.classes == ["setosa", "versicolor", "virginica"]
    images = np.random.default_rng(0).random((40, 8, 8))
    spec, held = spec_with_data(_config(tmp_path), (images, np.arange(40) % 2))
    assert prepare_data(spec.data, given=held).input_shape == (1, 8, 8)
    spec, held = spec_with_data(_config(tmp_path), (images.reshape(40, 1, 8, 8).repeat(3, axis=1), np.arange(40) % 2))
    assert prepare_data(spec.data, given=held).input_shape == (3, 8, 8)


def test_a_frame_trains_with_its_column_kinds_and_predicts_from_a_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    size = rng.normal(0, 1, 200)
    colour = rng.choice(["red", "blue"], 200)
    label = np.where(size + (colour == "red") * 1.5 > 0.7, "big", "small")
    frame = pa.table({"size": size, "colour": colour, "label": label})
    config = _config(tmp_path)
    config["data"] = {"target": "label"}
    run = lamina.fit(config, data=frame, progress="none", report=False)
    schema = json.loads((run.folder.root / "schema.json").read_text())["columns"]
    assert {c["column"]: c["kind"] for c in schema}["colour"] == "categorical"
    assert json.loads(run.folder.summary.read_text())["test"]["accuracy"] >= 0.85
    new = tmp_path / "new.csv"
    new.write_text("size,colour\n2.0,red\n-2.0,blue\n")
    assert [r["label"] for r in lamina.load_run(run.folder.root).predict_file(new)] == ["big", "small"]


@pytest.mark.parametrize("data, message", [
    ((np.zeros((10, 3)), np.zeros(9, dtype=int)), "X has 10 samples but y has 9"),
    ((np.array([[1.0, np.nan]] * 4), np.arange(4) % 2), "X holds NaN at index (0, 1)"),
    ((np.array([["a", "b"]] * 4), np.arange(4) % 2), "X must hold numbers"),
    ((np.zeros(10), np.zeros(10, dtype=int)), "X must be shaped (samples, features)"),
    ((np.zeros((4, 2)), np.array([1.0, np.inf, 0.0, 1.0])), "y holds NaN or infinity at sample 1"),
    ((np.zeros((4, 2)), np.array([1, None, 0, 1], dtype=object)), "y holds a missing value"),
    ((np.zeros((4, 2)), np.arange(4) % 2, np.zeros((2, 3)), np.arange(2)), "X_val samples are shaped (3,)"),
    ((np.zeros((4, 2)), np.arange(4) % 2, np.zeros((2, 2)), np.arange(3)), "X_val has 2 samples but y_val has 3"),
    ([np.zeros((4, 2))], "data must be (X, y), (X_train, y_train, X_val, y_val) or a DataFrame"),
])
def test_bad_arrays_get_one_error_naming_the_argument(tmp_path: Path, data, message: str) -> None:
    with pytest.raises(DataError) as caught:
        lamina.fit(_config(tmp_path), data=data, progress="none")
    assert message in str(caught.value)
    assert not (tmp_path / "runs").exists()  # refused before a run folder is made


def test_a_config_with_a_data_file_and_data_from_python_is_refused(tmp_path: Path) -> None:
    config = {**_config(tmp_path), "data": {"dataset": "iris"}}
    with pytest.raises(ConfigError, match="exactly one of data.dataset"):
        lamina.fit(config, data=_iris(), progress="none")
    with pytest.raises(ConfigError, match="also names data.dataset iris"):
        lamina.fit(lamina.load_config(config), data=_iris(), progress="none")


def test_a_pandas_frame_is_read_like_a_pyarrow_table(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"size": [1.0, 2.0, None, 4.0] * 10, "colour": ["red", "blue"] * 20,
                              "label": ["x", "y", "x", "y"] * 10}, index=range(100, 140))
    config = _config(tmp_path)
    config["data"] = {"target": "label"}
    spec, held = spec_with_data(config, frame)
    data = prepare_data(spec.data, given=held)
    assert spec.data.python == "frame" and held.name == "DataFrame (40 rows, 3 columns)"
    assert data.input_shape == (3,) and data.task == "binary"  # size (missing cells imputed) + colour one-hot
