"""VAE and GAN samples judged by a digits classifier: class coverage, entropy, the collapse warning, generate."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lamina.cli import app
from lamina.generative.judge import CoverageMonitor
from lamina.generative.run import train_generative


def _config(runs: Path, generative: dict, epochs: int, batch_size: int, lr: float) -> dict:
    return {"name": generative["model"], "runs_dir": str(runs), "data": {"dataset": "digits"},
            "model": {"arch": "mlp", "hidden": [64]}, "generative": dict(generative, judge_epochs=20, coverage_every=10),
            "train": {"epochs": epochs, "batch_size": batch_size, "optimizer": {"lr": lr}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    vae = train_generative(_config(folder, {"model": "vae", "kind": "dense", "latent": 8}, 40, 32, 0.003), "none")
    gan = train_generative(_config(folder, {"model": "gan", "kind": "dense", "latent": 16, "width": 32}, 50, 64, 0.001),
                           "none")
    return {"vae": vae, "gan": gan}


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_samples_cover_most_digit_classes(runs, model):
    result = runs[model]
    c = result["coverage"]
    print(f"{model}: {c['covered']}/10 classes, entropy {c['entropy']:.3f} of {c['max_entropy']:.3f}, "
          f"judge accuracy {result['judge_accuracy']:.3f}")
    assert result["judge_accuracy"] > 0.9
    assert c["covered"] >= 8
    assert c["entropy"] > 0.8 * math.log(10)
    assert (Path(result["folder"]) / "figures" / "samples.png").is_file()


def test_gan_logs_discriminator_and_generator_losses_per_step(runs):
    root = Path(runs["gan"]["folder"])
    lines = (root / "losses.jsonl").read_text().splitlines()
    assert len(lines) == 50 * math.ceil(runs["gan"]["samples"]["train"] / 64)
    assert (root / "figures" / "gan_losses.png").is_file()


def test_vae_report_has_a_latent_map(runs):
    assert (Path(runs["vae"]["folder"]) / "figures" / "latent.png").is_file()


def test_generate_command_writes_grid_and_raw_samples(runs):
    folder = runs["gan"]["folder"]
    result = CliRunner().invoke(app, ["generate", folder, "--n", "64"])
    assert result.exit_code == 0, result.output
    assert "classes" in result.output
    samples = np.load(Path(folder) / "generated" / "samples-64-seed0.npz")["x"]
    assert samples.shape == (64, 1, 8, 8)
    assert samples.min() >= 0 and samples.max() <= 16.0 + 1e-4  # digits' raw pixel units
    assert (Path(folder) / "generated" / "samples-64-seed0.png").is_file()


def test_generate_refuses_an_autoencoder_run(tmp_path):
    config = _config(tmp_path, {"model": "autoencoder", "kind": "dense"}, 1, 64, 0.003)
    folder = train_generative(config, "none")["folder"]
    result = CliRunner().invoke(app, ["generate", folder])
    assert result.exit_code == 2 and "needs a vae or gan run" in result.output


class _Judge(torch.nn.Module):
    """Classifies a sample by its first value: class round(x[0] * 9)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.nn.functional.one_hot((x.flatten(1)[:, 0] * 9).round().long(), 10).float()


def test_coverage_monitor_warns_when_coverage_drops():
    collapsed = {"yes": False}

    def sample(n):
        values = torch.zeros(n) if collapsed["yes"] else torch.arange(n) % 10 / 9
        return values[:, None]

    monitor = CoverageMonitor(sample, _Judge(), [str(i) for i in range(10)], n=200, every=1, progress="none")
    state = SimpleNamespace(epochs=3, steps_per_epoch=1, logs={})
    for epoch in (1, 2):
        state.logs = {"epoch": epoch}
        collapsed["yes"] = epoch == 2
        monitor.on_epoch_end(state)
    assert [r["covered"] for r in monitor.record] == [10, 1]
    assert len(monitor.warnings) == 1 and "dropped to 1/10" in monitor.warnings[0]
    assert state.logs["class_entropy"] == 0.0
