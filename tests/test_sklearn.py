"""lamina.sklearn: Classifier and Regressor as scikit-learn estimators (issue 20, item 3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import lamina
from lamina.errors import RunFolderError
from lamina.sklearn import Classifier, Regressor

QUICK = {"hidden": (32,), "epochs": 10, "batch_size": 64, "lr": 1e-2}


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [Classifier(**QUICK), Regressor(**QUICK)], ids=["Classifier", "Regressor"])
def test_check_estimator_passes_every_applicable_check(estimator) -> None:
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    skipped = [r["check_name"] for r in results if r["status"] == "skipped"]
    assert len(results) > 40 and failed == []
    assert skipped == ["check_array_api_input"]  # scikit-learn skips it itself: no array-API support is claimed


def test_pipeline_cross_val_score_on_breast_cancer_reaches_095() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("net", Classifier(hidden=(16,), epochs=5, batch_size=64, lr=1e-2))])
    started = time.perf_counter()
    scores = cross_val_score(pipeline, x, y, cv=5)
    print(f"breast_cancer 5-fold accuracy {scores.mean():.4f} in {time.perf_counter() - started:.1f} s")
    assert scores.mean() >= 0.95 and scores.min() >= 0.9


def test_grid_search_clone_and_parameter_mapping() -> None:
    x, y = load_iris(return_X_y=True)
    search = GridSearchCV(Classifier(hidden=(16,), batch_size=32, lr=1e-2), {"epochs": [1, 20]}, cv=3)
    search.fit(x, y)
    assert search.best_params_ == {"epochs": 20} and search.best_score_ >= 0.85
    net = clone(Classifier(arch="mlp", hidden=(8, 4), dropout=0.1, epochs=7, lr=0.02, seed=3,
                           config={"train": {"loss": "cross_entropy"}}))
    config = net.run_config("multiclass")
    assert config["model"] == {"arch": "mlp", "hidden": [8, 4], "dropout": 0.1}
    assert config["train"]["epochs"] == 7 and config["train"]["optimizer"]["lr"] == 0.02
    assert config["train"]["loss"] == "cross_entropy" and config["seed"] == 3 == config["data"]["split"]["seed"]
    assert net.set_params(epochs=9).get_params()["epochs"] == 9


def test_string_labels_and_save_load_round_trip_without_pickle(tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    net = Classifier(hidden=(16,), epochs=20, batch_size=32, lr=1e-2).fit(x, names)
    assert net.classes_.tolist() == ["setosa", "versicolor", "virginica"] and net.n_features_in_ == 4
    assert net.score(x, names) >= 0.9
    assert list(tmp_path.glob("**/*")) == []  # fit leaves no run folder behind
    folder = net.save(tmp_path / "saved")
    assert {p.name for p in folder.iterdir()} >= {"config.yaml", "preprocess.json", "model.safetensors", "sklearn.json"}
    again = Classifier.load(folder)
    assert again.get_params() == net.get_params()
    np.testing.assert_allclose(again.predict_proba(x), net.predict_proba(x), atol=1e-6)
    assert lamina.load_run(folder).predict(x[:1])[0]["y"] == net.predict(x[:1])[0]  # a plain run folder too
    with pytest.raises(RunFolderError, match="holds a Classifier, not a Regressor"):
        Regressor.load(folder)


def test_regressor_fits_one_and_several_targets() -> None:
    x, y = make_regression(300, 5, n_targets=2, noise=1.0, random_state=0)
    net = Regressor(hidden=(32,), epochs=40, batch_size=32, lr=1e-2)
    assert net.fit(x, y[:, 0]).predict(x).shape == (300,) and net.score(x, y[:, 0]) >= 0.9
    assert net.fit(x, y).predict(x).shape == (300, 2) and net.score(x, y) >= 0.9
    assert json.loads(json.dumps(net.get_params())) == {**net.get_params(), "hidden": [32]}
