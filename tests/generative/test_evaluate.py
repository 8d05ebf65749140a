"""``lamina evaluate`` on generative run folders: reconstruction MSE, anomaly AUROC and judge coverage again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lamina.cli import app
from lamina.errors import ConfigError
from lamina.evaluate.run import evaluate_run
from lamina.generative.run import train_generative


def train(tmp_path: Path, family: str, **generative) -> Path:
    """A one-epoch dense ``family`` run on digits (seconds)."""
    return Path(train_generative({
        "name": family, "runs_dir": str(tmp_path), "seed": 0, "data": {"dataset": "digits", "scale": "minmax"},
        "model": {"arch": "mlp", "hidden": [8]}, "train": {"epochs": 1},
        "generative": {"model": family, "kind": "dense", "latent": 2, "width": 4, "judge_epochs": 1, "samples": 20,
                       **generative}}, progress="none")["folder"])


def test_evaluate_rescores_an_autoencoder_and_a_gan_to_their_summaries_and_the_autoencoder_is_diagnosed(
        tmp_path: Path) -> None:
    ae = train(tmp_path, "autoencoder", normal_classes=["0", "1", "2", "3", "4"])
    done = CliRunner().invoke(app, ["evaluate", str(ae)])
    assert done.exit_code == 0, done.output
    assert "test_mse" in done.output and "anomaly_auroc" in done.output
    report = json.loads((ae / "evaluation.json").read_text())
    summary = json.loads((ae / "summary.json").read_text())
    assert report["kind"] == "autoencoder" and report["split"] == "test"
    assert report["samples"] == summary["samples"]["test"]
    assert report["metrics"]["test_mse"] == pytest.approx(summary["test_mse"], abs=1e-6)
    assert report["metrics"]["pca_test_mse"] == pytest.approx(summary["pca_test_mse"], abs=1e-6)
    assert report["metrics"]["anomaly_auroc"] == pytest.approx(summary["anomaly"]["auroc"], abs=1e-6)

    monitor = json.loads((ae / "monitor.json").read_text())  # train.diagnose (on by default) watched the autoencoder
    diagnosis = json.loads((ae / "diagnosis.json").read_text())
    assert diagnosis["epochs"] == 1 and diagnosis["samples"] == len(monitor["samples"]) >= 10
    assert monitor["task"] == "regression" and monitor["class_counts"] == [] and monitor["reference"] is None
    assert 0.05 < monitor["baseline_loss"] < 0.2  # the mean image's MSE on digits in [0, 1], not the labels' entropy
    assert all(all(v > 0 for v in s["grad_norm"].values()) for s in monitor["samples"])

    gan = train(tmp_path, "gan")
    report = evaluate_run(gan)
    coverage = json.loads((gan / "summary.json").read_text())["coverage"]
    assert report["kind"] == "gan" and "test_mse" not in report["metrics"]
    assert not (gan / "monitor.json").exists()  # a GAN is not watched (train.diagnose is refused when set)
    assert report["metrics"]["classes_covered"] == coverage["covered"]
    assert report["metrics"]["coverage_entropy"] == pytest.approx(coverage["entropy"], abs=1e-6)
    with pytest.raises(ConfigError, match="is a generative run, which has none"):
        evaluate_run(gan, groups=["sex"])
