"""Self-supervised pretraining through lamina train (lamina pretrain is its alias), then the run as a backbone."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from lamina.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_pretrain_then_train_on_the_backbone(tmp_path: Path) -> None:
    config = tmp_path / "simclr.yaml"
    config.write_text(yaml.safe_dump({
        "name": "ss", "runs_dir": str(tmp_path / "runs"), "data": {"dataset": "digits", "view": "image"},
        "model": {"arch": "cnn", "channels": [8], "dense": [16]},
        "train": {"epochs": 2, "batch_size": 256, "selfsup": {"method": "simclr"},
                  "augment": [{"shift": 1}, {"noise": 0.1}]}}))
    code, out = invoke("train", str(config), "--progress", "none")  # lamina pretrain is its alias
    assert code == 0, out
    assert "simclr loss" in out and (tmp_path / "runs" / "ss" / "pretrain.json").is_file()
    head = tmp_path / "head.yaml"
    head.write_text(yaml.safe_dump({
        "name": "head", "runs_dir": str(tmp_path / "runs"), "data": {"dataset": "digits", "view": "image"},
        "model": {"backbone": {"run": str(tmp_path / "runs" / "ss")}},
        "train": {"epochs": 2, "tensorboard": False}}))
    code, out = invoke("train", str(head), "--progress", "none")
    assert code == 0, out
    saved = yaml.safe_load((tmp_path / "runs" / "head" / "config.yaml").read_text())
    layers = saved["model"]["backbone"]["layers"]  # conv bn relu pool flatten dense relu: all but the last layer
    assert len(layers) == 7 and "conv2d" in layers[0] and layers[-1] == "relu"


def test_pretrain_without_selfsup_is_refused_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "plain.yaml"
    config.write_text(yaml.safe_dump({"data": {"dataset": "digits"}, "model": {"arch": "mlp"}}))
    code, out = invoke("pretrain", str(config))
    assert code == 2 and "train.selfsup" in out
