"""Every config in examples/ trains end to end, and the headline examples reach their numbers.

Each example is trained once, as written, through the Python API
(``load_config`` + ``train``) into a temporary runs folder; the runs are shared
between the tests through a session cache. On 2 idle CPU cores the whole file
takes about 20 seconds, so no example needs its epochs cut here (add one to
``TEST_OVERRIDES`` if it ever does, unless a test asserts its outcome).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lamina
from lamina.config import load_config
from lamina.errors import DataError
from lamina.trainer import train

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CONFIGS = sorted(EXAMPLES.glob("*.yaml"))
# Examples with a tune: section are deliberately poor as written; test_digits_tune_* runs their search instead.
TUNED = [p for p in CONFIGS if "\ntune:" in p.read_text(encoding="utf-8")]
# Examples with train.selfsup pretrain an encoder (lamina train runs them as pretraining): tested apart.
PRETRAINING = [p for p in CONFIGS if "selfsup:" in p.read_text(encoding="utf-8")]
TRAINED = [p for p in CONFIGS if p not in TUNED and p not in PRETRAINING]

# Examples whose outcome a dedicated test asserts: always trained exactly as written.
ASSERTED = {"breast_cancer_mlp", "diabetes_mlp", "digits_cnn", "digits_vit", "reverse_transformer", "tabular_csv"}
# Extra --set overrides for examples too slow to train in full here, e.g. {"big_one": ["train.epochs=5"]}.
TEST_OVERRIDES: dict[str, list[str]] = {}


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``trained(stem, monkeypatch)`` trains examples/<stem>.yaml once per session and returns the Run.

    Training happens with the repository root as the working directory (so a
    relative data.path resolves as the README says) and writes under a
    temporary runs_dir, never into the repository.
    """
    runs_dir = tmp_path_factory.mktemp("runs")
    cache: dict[str, lamina.Run] = {}

    def get(stem: str, monkeypatch: pytest.MonkeyPatch) -> lamina.Run:
        if stem not in cache:
            path = EXAMPLES / f"{stem}.yaml"
            overrides = [f"runs_dir={runs_dir}"] + ([] if stem in ASSERTED else TEST_OVERRIDES.get(stem, []))
            monkeypatch.chdir(ROOT)
            cache[stem] = train(load_config(path, overrides), progress="none")
        return cache[stem]

    return get


def read_metrics(run: lamina.Run) -> list[dict]:
    lines = run.folder.metrics.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def read_predictions(run: lamina.Run) -> list[dict[str, str]]:
    with (run.folder.predictions / "test.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


README = ROOT / "README.md"
README_TOLERANCE = 1.0  # percentage points between the README's examples table and a run of the example as written


def readme_table() -> dict[str, tuple[float, str]]:
    """The README's examples table: example stem -> (the first percentage in its result cell, that cell)."""
    rows = re.findall(r"^\| `([a-z_]+)\.yaml` \|[^|]*\| ([^|]*) \|$", README.read_text(encoding="utf-8"), re.M)
    return {stem: (float(re.search(r"([\d.]+)%", cell).group(1)), cell) for stem, cell in rows
            if re.search(r"[\d.]+% (accuracy|exact match)", cell)}


def check_readme_number(stem: str, run: lamina.Run) -> None:
    """The example's test accuracy (or exact match) is the README's number, within README_TOLERANCE points."""
    claimed, cell = readme_table()[stem]
    test = json.loads(run.folder.summary.read_text(encoding="utf-8"))["test"]
    measured = 100 * test.get("accuracy", test.get("exact_match", float("nan")))
    assert abs(measured - claimed) <= README_TOLERANCE, (
        f"README says {stem}.yaml reaches {cell!r}; as written it reached {measured:.2f}%")


def test_readme_table_lists_every_trained_example():
    table = readme_table()
    assert {"digits_cnn", "digits_vit", "iris_mlp", "reverse_transformer"} <= set(table), table
    assert set(table) <= {p.stem for p in TRAINED}


def test_examples_exist():
    names = {p.stem for p in CONFIGS}
    assert ASSERTED | {"digits_mlp", "digits_resnet", "digits_chain", "iris_mlp", "wine_mlp"} <= names


@pytest.mark.parametrize("path", TRAINED, ids=lambda p: p.stem)
def test_example_trains_and_loss_falls(path, trained, monkeypatch):
    spec = load_config(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#"), "examples start with a comment saying what they show"
    assert "\nname: " in text and "\nseed: " in text, "examples set their name and seed explicitly"
    assert spec.runs_dir == "runs", "examples write their runs under runs/"

    run = trained(path.stem, monkeypatch)

    history = read_metrics(run)
    assert len(history) >= 2
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    assert np.isfinite(last)
    assert last < 0.6 * first, f"{path.name}: train_loss went {first:.4f} -> {last:.4f}"

    root = run.folder.root
    for name in ("config.yaml", "model.safetensors", "preprocess.json", "summary.json", "evaluation.json"):
        assert (root / name).is_file(), f"{name} missing from {root}"
    summary = json.loads(run.folder.summary.read_text(encoding="utf-8"))
    assert summary["test"], "the run was evaluated on its test split"
    assert len(read_predictions(run)) == summary["samples"]["test"]

    reloaded = lamina.load_run(root)
    assert reloaded.spec.name == spec.name
    if path.stem in readme_table():
        check_readme_number(path.stem, run)
    diagnosis = json.loads((root / "diagnosis.json").read_text(encoding="utf-8"))  # no false underfitting alarm
    assert "underfitting" not in [f["name"] for f in diagnosis["findings"]], diagnosis["findings"]


@pytest.mark.parametrize("path", PRETRAINING, ids=lambda p: p.stem)
def test_pretraining_example_runs_and_its_loss_falls(path, tmp_path, monkeypatch):
    from lamina.files import read_json
    from lamina.transfer.selfsup import pretrain

    monkeypatch.chdir(ROOT)
    folder = pretrain(load_config(path, [f"runs_dir={tmp_path}", "train.epochs=4"]), progress="none")
    record = read_json(folder.root / "pretrain.json")
    assert record["losses"][-1] < 0.95 * record["losses"][0], record["losses"]  # NT-Xent falls slowly: 0.91 here
    assert (folder.root / "model.safetensors").is_file() and (folder.root / "config.yaml").is_file()


def test_breast_cancer_reaches_95_percent(trained, monkeypatch):
    from sklearn.datasets import load_breast_cancer

    run = trained("breast_cancer_mlp", monkeypatch)
    bunch = load_breast_cancer()
    truth = np.asarray(bunch.target_names)[bunch.target]  # 'malignant' / 'benign' per row
    rows = read_predictions(run)
    predicted = np.array([r["target"] for r in rows])
    index = np.array([int(r["row"]) for r in rows])
    accuracy = float((predicted == truth[index]).mean())
    assert len(rows) >= 100
    assert accuracy >= 0.95, f"test accuracy {accuracy:.4f}"
    summary = json.loads(run.folder.summary.read_text(encoding="utf-8"))
    assert summary["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_diabetes_beats_the_mean_predictor_by_35_percent(trained, monkeypatch):
    from sklearn.datasets import load_diabetes

    run = trained("diabetes_mlp", monkeypatch)
    y = load_diabetes().target
    data = lamina.prepare_data(run.spec.data)  # the run's own split, rebuilt from its saved config
    mean_prediction = y[data.train.rows].mean()  # the best constant a model could learn from training rows

    rows = read_predictions(run)
    index = np.array([int(r["row"]) for r in rows])
    predicted = np.array([float(r["progression"]) for r in rows])
    assert sorted(index.tolist()) == sorted(data.test.rows.tolist())

    model_mse = float(np.mean((predicted - y[index]) ** 2))
    baseline_mse = float(np.mean((mean_prediction - y[index]) ** 2))
    cut = 1.0 - model_mse / baseline_mse
    assert cut >= 0.35, f"test MSE {model_mse:.1f} vs mean predictor {baseline_mse:.1f}: cut {cut:.1%}"
    summary = json.loads(run.folder.summary.read_text(encoding="utf-8"))
    assert summary["test"]["mse"] == pytest.approx(model_mse, rel=1e-4)


@pytest.mark.slow
def test_digits_vit_reaches_93_percent(trained, monkeypatch):
    """A pure ViT (2x2 patches, width 64, 4 blocks, no conv stem) on 270 test digits; the README gives the measured number."""
    summary = json.loads(trained("digits_vit", monkeypatch).folder.summary.read_text(encoding="utf-8"))
    assert summary["samples"]["test"] == 270
    assert summary["test"]["accuracy"] >= 0.93
    check_readme_number("digits_vit", trained("digits_vit", monkeypatch))


def test_reverse_transformer_generates_unseen_reversals(trained, monkeypatch):
    """Beam-decoded from their sources alone, 450 unseen digit strings; measured 100% exact match."""
    run = trained("reverse_transformer", monkeypatch)
    rows = read_predictions(run)
    assert len(rows) == 450
    assert json.loads(run.folder.summary.read_text(encoding="utf-8"))["test"]["exact_match"] >= 0.95


def test_digits_cnn_reaches_98_percent(trained, monkeypatch):
    from sklearn.datasets import load_digits

    run = trained("digits_cnn", monkeypatch)
    truth = load_digits().target.astype(str)
    rows = read_predictions(run)
    index = np.array([int(r["row"]) for r in rows])
    predicted = np.array([r["target"] for r in rows])
    accuracy = float((predicted == truth[index]).mean())
    assert len(rows) >= 300
    assert accuracy >= 0.98, f"test accuracy {accuracy:.4f}"


def test_tabular_csv_predicts_new_rows(trained, monkeypatch):
    run = trained("tabular_csv", monkeypatch)
    rows = run.predict_file(EXAMPLES / "data" / "penguins_like_new.csv")
    assert len(rows) == 5
    for row in rows:
        assert row["species"] in {"Adelie", "Chinstrap", "Gentoo"}
        assert sum(float(row[f"prob_{c}"]) for c in ("Adelie", "Chinstrap", "Gentoo")) == pytest.approx(1.0, abs=1e-5)


def test_tabular_csv_path_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative data.path outside examples/ is looked up here, not beside the config
    spec = load_config(EXAMPLES / "tabular_csv.yaml", [f"runs_dir={tmp_path / 'runs'}", "data.path=data/penguins_like.csv"])
    with pytest.raises(DataError, match="penguins_like.csv"):
        train(spec, progress="none")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_csv_generator_is_deterministic(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_penguins_like", EXAMPLES / "data" / "make_penguins_like.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write(tmp_path / "again.csv", module.make_rows(), module.COLUMNS)
    committed = (EXAMPLES / "data" / "penguins_like.csv").read_bytes()
    assert (tmp_path / "again.csv").read_bytes() == committed
    assert len(committed) < 100_000


def test_digits_tune_beats_its_poor_default_through_the_command(tmp_path, trained, monkeypatch):
    """`lamina tune` with two worker processes on one sqlite study; best.yaml retrains to the trial's score."""
    path = EXAMPLES / "digits_tune.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") and "\nname: " in text and "\nseed: " in text and load_config(path).runs_dir == "runs"
    runs, url = tmp_path / "runs", f"sqlite:///{tmp_path / 'study.db'}"
    command = [sys.executable, "-m", "lamina", "tune", str(path), "--trials", "10", "--jobs", "2",
               "--storage", url, "--set", f"runs_dir={runs}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert "[worker 0]" in done.stderr and "[worker 1]" in done.stderr
    out = runs / "digits-tune-tune"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["trials"] == 10 and sum(report["states"].get(s, 0) for s in ("complete", "pruned")) == 10
    assert "best config:" in done.stdout and (out / "best.yaml").is_file()
    assert {Path(f).name for f in report["figures"]} >= {"history.png", "importance.png", "parallel.png"}

    default = json.loads(trained("digits_tune", monkeypatch).folder.summary.read_text(encoding="utf-8"))
    best = train(load_config(out / "best.yaml"), progress="none")
    tuned = json.loads(best.folder.summary.read_text(encoding="utf-8"))
    assert default["test"]["accuracy"] < 0.5, "the example's default is meant to be poor"
    assert tuned["test"]["accuracy"] >= max(0.9, default["test"]["accuracy"] + 0.4), (tuned["test"], default["test"])
    assert tuned["test"]["accuracy"] == pytest.approx(report["best"][0]["test"]["accuracy"], abs=0.005)


def test_text_csv_predicts_new_reviews(trained, monkeypatch):
    run = trained("text_csv", monkeypatch)
    summary = json.loads(run.folder.summary.read_text(encoding="utf-8"))
    assert summary["test"]["accuracy"] >= 0.85
    vocab = json.loads(run.folder.preprocess.read_text(encoding="utf-8"))["inputs"]["vocab"]
    assert vocab[:2] == ["<pad>", "<unk>"] and "good" in vocab  # saved with the run
    rows = run.predict_file(EXAMPLES / "data" / "reviews_new.csv")
    assert len(rows) == 5 and {row["sentiment"] for row in rows} <= {"pos", "neg"}


def test_forecast_csv_beats_seasonal_naive_and_forecasts_past_the_file(trained, monkeypatch):
    run = trained("forecast_csv", monkeypatch)
    summary = json.loads(run.folder.summary.read_text(encoding="utf-8"))
    assert summary["test"]["mae"] < summary["baseline"]["seasonal_naive_mae"]
    rows = run.predict_file(EXAMPLES / "data" / "seasonal.csv")
    assert [row["series"] for row in rows] == ["north", "south"] and len(rows[0]) == 13  # 12 steps each
    assert all(0 < row["t+1"] < 25 for row in rows)  # in the series' own units (they hover around 5-15)


def test_sequence_data_generator_is_deterministic(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_sequences", EXAMPLES / "data" / "make_sequences.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.HERE = tmp_path
    module.main()
    for name in ("reviews.csv", "reviews_new.csv", "seasonal.csv"):
        assert (tmp_path / name).read_bytes() == (EXAMPLES / "data" / name).read_bytes()
