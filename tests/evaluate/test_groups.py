"""Metrics by group (eval.groups, lamina evaluate --groups): issue 20, item 5."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import lamina
from lamina.cli import app
from lamina.errors import ConfigError, DataError
from lamina.evaluate.groups import expected_calibration_error, group_report


def _table(path: Path, n: int = 600) -> Path:
    """A table whose label depends on the group column: at the same x, group 'a' is positive far more often."""
    rng = np.random.default_rng(0)
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    x = rng.normal(0, 1, n)
    shift = np.select([group == "a", group == "b"], [1.0, 0.0], -0.8)
    label = (x + shift + rng.normal(0, 0.3, n) > 0.3).astype(int)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "noise", "group", "label"])
        writer.writerows(zip(np.round(x, 4), np.round(rng.normal(0, 1, n), 4), group, label))
    return path


def _hand(predictions: Path, table: Path) -> dict:
    """Per-group accuracy, selection rate, TPR and FPR and the gaps, computed from predictions/test.csv by hand."""
    groups = [row["group"] for row in csv.DictReader(table.read_text().splitlines())]
    rows = list(csv.DictReader(predictions.read_text().splitlines()))
    by = {}
    for row in rows:
        by.setdefault(groups[int(row["row"])], []).append((int(row["true"]), int(row["label"])))
    out = {}
    for name, pairs in by.items():
        truth, pred = np.array(pairs).T
        out[name] = {"accuracy": np.mean(truth == pred), "selection_rate": np.mean(pred == 1),
                     "tpr": np.mean(pred[truth == 1] == 1), "fpr": np.mean(pred[truth == 0] == 1)}
    spread = lambda k: max(m[k] for m in out.values()) - min(m[k] for m in out.values())  # noqa: E731
    gaps = {"demographic_parity_difference": spread("selection_rate"),
            "equalized_odds_difference": max(spread("tpr"), spread("fpr")),
            "worst_group_accuracy": min(m["accuracy"] for m in out.values())}
    return {"groups": out, "gaps": gaps}


@pytest.fixture(scope="module")
def fair_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[lamina.Run, Path]:
    """A run on the generated table with eval.groups: [group] (trained once for the module)."""
    tmp_path = tmp_path_factory.mktemp("fair")
    table = _table(tmp_path / "loans.csv")
    config = {"name": "fair", "runs_dir": str(tmp_path / "runs"),
              "data": {"path": str(table), "target": "label", "split": {"test": 0.3}},
              "model": {"arch": "mlp", "hidden": [8]}, "eval": {"groups": ["group"]},
              "train": {"epochs": 8, "batch_size": 32, "tensorboard": False, "diagnose": False, "optimizer": {"lr": 0.01}}}
    run = lamina.fit(config, progress="none")
    lamina.wait_for_reports()
    return run, table


def test_group_metrics_match_fairlearn_metricframe(fair_run) -> None:
    """fairlearn (a test-only oracle from the dev extra) gives the same per-group accuracy and gaps to 1e-6."""
    pytest.importorskip("fairlearn")
    from fairlearn.metrics import MetricFrame, demographic_parity_difference, equalized_odds_difference
    from sklearn.metrics import accuracy_score

    run, table = fair_run
    groups = [row["group"] for row in csv.DictReader(table.read_text().splitlines())]
    rows = list(csv.DictReader((run.folder.predictions / "test.csv").read_text().splitlines()))
    truth = np.array([int(r["true"]) for r in rows])
    pred = np.array([int(r["label"]) for r in rows])
    sensitive = np.array([groups[int(r["row"])] for r in rows])
    found = json.loads(run.folder.summary.read_text())["groups"]["group"]
    frame = MetricFrame(metrics=accuracy_score, y_true=truth, y_pred=pred, sensitive_features=sensitive)
    for name, value in frame.by_group.items():
        assert found["groups"][name]["accuracy"] == pytest.approx(value, abs=1e-6)
    assert found["gaps"]["worst_group_accuracy"] == pytest.approx(frame.group_min(), abs=1e-6)
    assert found["gaps"]["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(truth, pred, sensitive_features=sensitive), abs=1e-6)
    assert found["gaps"]["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(truth, pred, sensitive_features=sensitive), abs=1e-6)


def test_group_metrics_match_a_hand_computation_and_reach_every_output(fair_run) -> None:
    run, table = fair_run
    summary = json.loads(run.folder.summary.read_text())
    found = summary["groups"]["group"]
    hand = _hand(run.folder.predictions / "test.csv", table)
    assert set(found["groups"]) == set(hand["groups"]) == {"a", "b", "c"}
    for name, metrics in hand["groups"].items():
        for key, value in metrics.items():
            assert found["groups"][name][key] == pytest.approx(value, abs=1e-6), (name, key)
    for key, value in hand["gaps"].items():
        assert found["gaps"][key] == pytest.approx(value, abs=1e-6), key
    # the label depends on the group, which is not an input: one threshold on x fails the groups unequally
    assert found["gaps"]["equalized_odds_difference"] > 0.3 and found["gaps"]["accuracy_difference"] > 0.15
    schema = {c["column"]: c for c in json.loads((run.folder.root / "schema.json").read_text())["columns"]}
    assert schema["group"]["kind"] == "ignore" and schema["group"]["detected"] == "eval.groups"  # not an input
    assert "metrics by group" in (run.folder.root / "report.html").read_text().lower()

    # on an existing run: the CLI table, and the same numbers in evaluation.json
    result = CliRunner().invoke(app, ["evaluate", str(run.folder.root), "--groups", "group"])
    assert result.exit_code == 0, result.output
    assert "metrics by group (worst_group_accuracy" in result.output and "selection_rate" in result.output
    assert json.loads(run.folder.evaluation.read_text())["groups"] == summary["groups"]
    missing = CliRunner().invoke(app, ["evaluate", str(run.folder.root), "--groups", "grup"])
    assert missing.exit_code == 2 and "has no group column (eval.groups) 'grup'. Did you mean 'group'?" in missing.output


def test_group_columns_are_inputs_only_when_asked(tmp_path: Path) -> None:
    from lamina.data.prepare import prepare_data

    spec = lamina.load_config({"data": {"path": str(_table(tmp_path / "t.csv", 60)), "target": "label"},
                               "model": {"arch": "mlp"}, "eval": {"groups": ["group"]}})
    left_out = prepare_data(spec.data, groups=["group"])
    kept = prepare_data(spec.data, groups=["group"], group_inputs=True)
    assert left_out.input_shape == (2,) and kept.input_shape == (5,)  # x, noise (+ one-hot a, b, c)
    assert left_out.groups["group"].tolist()[:3] == kept.groups["group"].tolist()[:3]
    with pytest.raises(ConfigError, match="eval.groups names columns of a table, but dataset 'iris'"):
        prepare_data(lamina.load_config({"data": {"dataset": "iris"}, "model": {"arch": "mlp"}}).data, groups=["g"])
    with pytest.raises(DataError, match="has no group column"):
        prepare_data(spec.data, groups=["nope"])


def test_group_report_by_hand_binary_multiclass_regression_and_calibration() -> None:
    p1 = np.array([0.9, 0.8, 0.2, 0.6, 0.3, 0.1])
    probabilities = np.stack([1 - p1, p1], axis=1)
    truth = np.array([1, 0, 0, 1, 1, 0])
    groups = {"g": np.array(["u", "u", "u", "v", "v", "v"])}
    report = group_report(probabilities, truth, "binary", groups)["g"]
    u, v = report["groups"]["u"], report["groups"]["v"]
    assert (u["n"], u["accuracy"], u["selection_rate"], u["tpr"], u["fpr"]) == (3, pytest.approx(2 / 3),
                                                                               pytest.approx(2 / 3), 1.0, 0.5)
    assert (v["accuracy"], v["selection_rate"], v["tpr"], v["fpr"]) == (pytest.approx(2 / 3), pytest.approx(1 / 3),
                                                                         0.5, 0.0)
    assert u["f1"] == pytest.approx(2 / 3) and v["f1"] == pytest.approx(2 / 3)
    assert report["gaps"] == pytest.approx({"worst_group_accuracy": 2 / 3, "accuracy_difference": 0.0,
                                            "demographic_parity_difference": 1 / 3, "equalized_odds_difference": 0.5})
    # calibration: confidences 0.9 (right) and 0.6 (wrong) in two bins, weight 1/2 each
    assert expected_calibration_error(np.array([[0.1, 0.9], [0.6, 0.4]]), np.array([1, 1])) == pytest.approx(
        0.5 * 0.1 + 0.5 * 0.6)
    multi = group_report(np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 1, 0]), "multiclass", {"g": np.array(list("xxyy"))})
    assert multi["g"]["gaps"] == {"worst_group_accuracy": 0.5, "accuracy_difference": 0.5}
    values = np.array([[1.0], [2.0], [3.0], [5.0]])
    regression = group_report(values, np.array([[1.0], [1.0], [3.0], [3.0]]), "regression", {"g": np.array(list("xxyy"))})
    assert regression["g"]["groups"]["x"] == {"n": 2, "mae": 0.5, "rmse": pytest.approx(np.sqrt(0.5))}
    assert regression["g"]["gaps"] == {"worst_group_mae": 1.0, "mae_difference": 0.5}


def test_a_frame_from_python_scores_by_group(tmp_path: Path) -> None:
    import pyarrow.csv as pv

    frame = pv.read_csv(_table(tmp_path / "t.csv", 300))
    config = {"name": "frame", "runs_dir": str(tmp_path / "runs"), "data": {"target": "label"},
              "model": {"arch": "mlp", "hidden": [8]}, "eval": {"groups": ["group"]},
              "train": {"epochs": 2, "tensorboard": False, "diagnose": False}}
    run = lamina.fit(config, data=frame, progress="none", report=False)
    found = json.loads(run.folder.summary.read_text())["groups"]["group"]
    assert sum(m["n"] for m in found["groups"].values()) == json.loads(run.folder.summary.read_text())["samples"]["test"]
    assert yaml.safe_load(run.folder.config.read_text())["eval"]["groups"] == ["group"]
