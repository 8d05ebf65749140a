"""Self-supervised pretraining: the NT-Xent loss, and a linear probe on the pretrained encoder beating a random one."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch

from lamina.config import ModelSpec, TrainSpec, parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError
from lamina.files import read_json
from lamina.nn.build import build_model
from lamina.transfer.fewshot import few_shot_accuracy, few_shot_data
from lamina.transfer.selfsup import nt_xent, pretrain, write_encoder_run


def digits_config(tmp_path: Path, method: str, epochs: int) -> dict:
    return {"name": method, "runs_dir": str(tmp_path), "data": {"dataset": "digits", "view": "image",
                                                                  "split": {"val": 0, "test": 0}},
            "model": {"arch": "cnn", "channels": [16, 32], "dense": [64]},
            "train": {"epochs": epochs, "batch_size": 256, "optimizer": {"lr": 0.003}, "selfsup": {"method": method}}}


def probe(run: Path, data, k: int) -> float:
    """Mean test accuracy (%) over 3 seeds of a linear head on the frozen encoder, from k labels per class."""
    train = TrainSpec(epochs=100, batch_size=10 * k, tensorboard=False, optimizer={"lr": 0.01})
    model = ModelSpec(backbone={"run": str(run)})
    return statistics.mean(100 * few_shot_accuracy(model, train, few_shot_data(data, k, seed), seed) for seed in range(3))


def test_nt_xent_is_low_for_matching_views_and_high_for_shuffled_ones() -> None:
    z = torch.randn(32, 16)
    matched = nt_xent(z, z + 0.01 * torch.randn(32, 16), 0.5)
    shuffled = nt_xent(z, z[torch.randperm(32)], 0.5)
    assert float(matched) < float(shuffled) - 1.0


def test_simclr_encoder_probe_beats_a_random_encoder_with_one_and_two_labels(tmp_path: Path) -> None:
    spec = parse_run_spec(digits_config(tmp_path, "simclr", 20))
    pretrained = pretrain(spec, progress="none")
    record = read_json(pretrained.root / "pretrain.json")
    assert record["losses"][-1] < record["losses"][0] - 0.5  # the contrastive task was learned
    data = prepare_data(spec.data)
    torch.manual_seed(0)
    random_run = write_encoder_run(spec, data.preprocessor, build_model(spec.model, data.input_shape, 10).model, {})
    for k in (1, 2):
        ours, baseline = probe(pretrained.root, data, k), probe(random_run.root, data, k)
        assert ours >= baseline + 5, (k, ours, baseline)


def test_denoising_pretraining_lowers_reconstruction_error_and_writes_a_backbone_run(tmp_path: Path) -> None:
    spec = parse_run_spec(digits_config(tmp_path, "denoise", 3))
    folder = pretrain(spec, progress="none")
    losses = read_json(folder.root / "pretrain.json")["losses"]
    assert losses[-1] < 0.8 * losses[0]
    assert (folder.root / "model.safetensors").is_file() and (folder.root / "config.yaml").is_file()


def test_pretrain_needs_a_selfsup_section(tmp_path: Path) -> None:
    config = digits_config(tmp_path, "simclr", 1)
    del config["train"]["selfsup"]
    with pytest.raises(ConfigError, match="train.selfsup"):
        pretrain(parse_run_spec(config), progress="none")
