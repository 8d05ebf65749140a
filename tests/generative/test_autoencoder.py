"""Autoencoder runs on digits: reconstruction beside PCA, anomaly detection beside PCA, embed and anomaly commands.

One conv autoencoder trained on digits 0-8 (shared by the module) serves every
test: its test MSE on held-out 0-8s against PCA's with the same 8 components,
and its anomaly AUROC for held-out 9s against PCA's reconstruction error.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from typer.testing import CliRunner

from lamina.cli import app
from lamina.generative.run import load_generative, train_generative

NORMAL = [str(i) for i in range(9)]


@pytest.fixture(scope="module")
def anomaly_run(tmp_path_factory):
    """A conv AE (8-unit code) trained 20 epochs on digits 0-8; the test split holds 0-9."""
    runs = tmp_path_factory.mktemp("runs")
    config = {"name": "ae", "runs_dir": str(runs), "data": {"dataset": "digits", "split": {"test": 0.3}},
              "model": {"arch": "mlp", "hidden": [32]},
              "train": {"epochs": 20, "batch_size": 32, "optimizer": {"lr": 0.003}},
              "generative": {"model": "autoencoder", "kind": "conv", "latent": 8, "width": 12,
                             "normal_classes": NORMAL}}
    return train_generative(config, progress="none")


def test_conv_autoencoder_reconstructs_better_than_pca(anomaly_run):
    print(f"test MSE: conv AE {anomaly_run['test_mse']:.4f}, PCA(8) {anomaly_run['pca_test_mse']:.4f}")
    assert anomaly_run["test_mse"] < 0.8 * anomaly_run["pca_test_mse"]


def test_anomaly_auroc_beats_pca_with_same_components(anomaly_run):
    ae, pca = anomaly_run["anomaly"], anomaly_run["pca_anomaly"]
    print(f"9s as anomalies: AUROC AE {ae['auroc']:.3f} vs PCA(8) {pca['auroc']:.3f}; "
          f"AUPRC {ae['auprc']:.3f} vs {pca['auprc']:.3f}")
    assert ae["anomalies"] > 30 and ae["normals"] > 300
    assert ae["mean_score_anomalies"] > 1.5 * ae["mean_score_normals"]
    assert ae["auroc"] > pca["auroc"] + 0.03
    assert ae["auprc"] > ae["anomalies"] / (ae["anomalies"] + ae["normals"])  # beats the chance level
    assert 0.0 < ae["false_alarm_rate"] < 0.15  # the validation threshold holds on test normals
    assert ae["recall"] > 0.3


def test_report_has_latent_map_and_reconstructions(anomaly_run):
    from pathlib import Path

    root = Path(anomaly_run["folder"])
    for name in ("latent.png", "reconstructions.png"):
        assert (root / "figures" / name).read_bytes()[:4] == b"\x89PNG"
    assert "figures/latent.png" in (root / "report.html").read_text()


def _digits_npz(tmp_path, digit: int, n: int = 20):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    path = tmp_path / f"digit{digit}.npz"
    np.savez(path, x=bunch.images[bunch.target == digit][:n])
    return path


def test_embed_command_writes_codes(anomaly_run, tmp_path):
    path = _digits_npz(tmp_path, 3)
    out = tmp_path / "codes.csv"
    result = CliRunner().invoke(app, ["embed", anomaly_run["folder"], "--input", str(path), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 20 and list(rows[0]) == [f"z{j}" for j in range(8)]
    codes = np.array([[float(v) for v in row.values()] for row in rows])
    run = load_generative(anomaly_run["folder"])
    import torch

    x = torch.from_numpy(run.preprocessor.inputs.transform_array(np.load(path)["x"], "x"))
    assert np.allclose(codes, run.model.encode(x).detach().numpy(), atol=1e-5)


def test_anomaly_command_flags_nines_more_than_zeros(anomaly_run, tmp_path):
    flagged = {}
    for digit in (0, 9):
        out = tmp_path / f"scores{digit}.csv"
        result = CliRunner().invoke(app, ["anomaly", anomaly_run["folder"], "--input", str(_digits_npz(tmp_path, digit, 60)),
                                          "--output", str(out)])
        assert result.exit_code == 0, result.output
        flagged[digit] = sum(int(r["anomaly"]) for r in csv.DictReader(io.StringIO(out.read_text())))
    assert flagged[9] > flagged[0] + 10


def test_embed_refuses_a_bad_input(anomaly_run, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((3, 5)))
    result = CliRunner().invoke(app, ["embed", anomaly_run["folder"], "--input", str(bad)])
    assert result.exit_code == 2
    assert "64 values" in result.output


def test_denoising_autoencoder_cleans_noisy_inputs_better_than_a_plain_one():
    import torch

    from lamina.config import DataSpec, TrainSpec
    from lamina.data.prepare import prepare_data
    from lamina.nn.models.autoencoder import AutoEncoder
    from lamina.train.loop import fit
    from lamina.train.reconstruction import Reconstruction

    data = prepare_data(DataSpec(dataset="digits"))
    noisy = (data.test.x + 0.3 * torch.randn(data.test.x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    errors = {}
    for noise in (0.0, 0.3):
        torch.manual_seed(0)
        model = AutoEncoder((1, 8, 8), "dense", latent=16, width=16)
        spec = TrainSpec(epochs=25, batch_size=32, optimizer={"name": "adam", "lr": 0.003})
        fit(model, data, spec, [], torch.device("cpu"), step=Reconstruction(noise))
        with torch.no_grad():
            errors[noise] = float((model.eval()(noisy) - data.test.x).pow(2).mean())
    print(f"MSE to clean digits from noisy inputs: plain {errors[0.0]:.4f}, denoising {errors[0.3]:.4f}")
    assert errors[0.3] < 0.9 * errors[0.0]


def test_predict_names_the_commands_for_a_generative_run(anomaly_run):
    result = CliRunner().invoke(app, ["predict", anomaly_run["folder"], "rows.csv"])
    assert result.exit_code == 2
    assert "is a generative (autoencoder) run" in result.output and "lamina evaluate" in result.output


def test_train_and_its_generative_alias_train_the_example_and_fit_points_to_the_family(tmp_path):
    from pathlib import Path

    import lamina
    from lamina.config import load_config
    from lamina.errors import ConfigError

    example = Path(__file__).resolve().parents[2] / "examples" / "generative" / "digits_autoencoder.yaml"
    for command in ("train", "generative"):
        result = CliRunner().invoke(app, [command, str(example), "--set", "train.epochs=1",
                                          "--set", f"runs_dir={tmp_path / command}", "--progress", "none"])
        assert result.exit_code == 0, result.output
        assert "PCA with 8 components" in result.output and "AUROC" in result.output
        assert (tmp_path / command / "digits-anomaly" / "model.safetensors").is_file()
    with pytest.raises(ConfigError, match=r"generative section, which fit does not train; call lamina.generative"):
        lamina.fit(load_config(example))
