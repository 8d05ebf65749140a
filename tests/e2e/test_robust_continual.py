"""CLI: lamina attack on a trained run, lamina continual on a config, user errors exit 2."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

import lamina
from lamina.cli import app


def test_attack_and_continual_commands(tmp_path: Path) -> None:
    run = lamina.fit({"name": "a", "runs_dir": str(tmp_path), "data": {"dataset": "digits", "view": "image"},
                      "model": {"arch": "cnn", "channels": [8, 16], "dense": [32]},
                      "train": {"epochs": 3, "tensorboard": False}}, progress="none")
    runner = CliRunner()
    out = runner.invoke(app, ["attack", str(run.folder.root), "--method", "fgsm", "--eps", "0.1,0.2", "--examples", "2"])
    assert out.exit_code == 0, out.output
    assert (run.folder.root / "attack-fgsm-linf.json").is_file()
    assert (run.folder.root / "figures" / "attack-fgsm-linf.png").is_file()
    bad = runner.invoke(app, ["attack", str(run.folder.root), "--norm", "l3"])
    assert bad.exit_code == 2 and "--norm" in bad.output

    config = tmp_path / "cl.yaml"
    config.write_text(yaml.safe_dump({"name": "cl", "runs_dir": str(tmp_path), "data": {"dataset": "digits"},
                                      "model": {"arch": "mlp", "hidden": [32]},
                                      "train": {"epochs": 1, "tensorboard": False},
                                      "continual": {"scenario": "class_split", "tasks": 2}}))
    out = runner.invoke(app, ["continual", str(config), "--strategy", "replay", "--progress", "none"])
    assert out.exit_code == 0, out.output
    assert "average accuracy" in out.output
