"""Trained runs shared by the compression tests (each trained once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

import lamina

DIGITS = {"dataset": "digits", "split": {"val": 0.15, "test": 0.2, "seed": 0}}
TRAIN = {"batch_size": 32, "optimizer": {"name": "adamw", "lr": 0.003}, "tensorboard": False}


def train_run(root: Path, name: str, data: dict, model: dict, epochs: int):
    """Train a small run quietly into ``root`` and return it."""
    spec = {"name": name, "seed": 0, "runs_dir": str(root), "data": data, "model": model,
            "train": {**TRAIN, "epochs": epochs}}
    return lamina.fit(spec, progress="none")


@pytest.fixture(scope="session")
def digits_cnn(tmp_path_factory: pytest.TempPathFactory):
    """A conv net on 1x8x8 digits (about 99% test accuracy)."""
    return train_run(tmp_path_factory.mktemp("cnn"), "digits-cnn", {**DIGITS, "view": "image"},
                     {"arch": "cnn", "channels": [16, 32], "dense": [64]}, epochs=8)


@pytest.fixture(scope="session")
def digits_mlp(tmp_path_factory: pytest.TempPathFactory):
    """A dense net on the 64 digit features (about 97% test accuracy)."""
    return train_run(tmp_path_factory.mktemp("mlp"), "digits-mlp", DIGITS,
                     {"arch": "mlp", "hidden": [256, 128]}, epochs=8)
