"""diagnose, train --remedy, lr-find, explain and compare through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from lamina.cli import app
from lamina.files import read_json

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _config(tmp_path: Path, name: str, **train) -> Path:
    config = {"name": name, "runs_dir": str(tmp_path / "runs"), "data": {"dataset": "iris"},
              "model": {"arch": "mlp", "hidden": [16]},
              "train": {"epochs": 6, "batch_size": 16, "tensorboard": False, **train}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_diagnose_explain_compare(tmp_path: Path) -> None:
    code, out = invoke("train", str(_config(tmp_path, "a")), "--progress", "none")
    assert code == 0, out
    run_a = tmp_path / "runs" / "a"
    assert (run_a / "report.html").is_file() and (run_a / "diagnosis.json").is_file()  # both by default
    code, out = invoke("diagnose", str(run_a))
    assert code == 0 and "diagnosis:" in out and "report:" in out
    code, out = invoke("explain", str(run_a), "--method", "ig", "--count", "4")
    assert code == 0 and "completeness" in out, out
    assert "integrated_gradients.png" in (run_a / "report.html").read_text()  # the attributions join the report
    code, out = invoke("train", str(_config(tmp_path, "b", optimizer={"lr": 0.03})), "--progress", "none")
    assert code == 0, out
    code, out = invoke("compare", str(run_a), str(tmp_path / "runs" / "b"), "--out", str(tmp_path / "cmp"))
    assert code == 0 and "test accuracy" in out, out
    assert (tmp_path / "cmp" / "curves.png").read_bytes().startswith(PNG)
    assert [row["name"] for row in read_json(tmp_path / "cmp" / "compare.json")["runs"]] == ["a", "b"]


def test_lr_find_plots_and_suggests(tmp_path: Path) -> None:
    code, out = invoke("lr-find", str(_config(tmp_path, "lr")), "--out", str(tmp_path / "lr"), "--steps", "60")
    assert code == 0, out
    result = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert 1e-5 < result["suggested_lr"] < 1.0 and f"{result['suggested_lr']:.3g}" in out
    assert (tmp_path / "lr" / "lr_find.png").read_bytes().startswith(PNG)


def test_nonfinite_loss_stops_naming_step_and_layer(tmp_path: Path) -> None:
    config = _config(tmp_path, "boom", optimizer={"name": "sgd", "lr": 3.0, "momentum": 0.9})
    data = yaml.safe_load(config.read_text())
    data["data"] = {"dataset": "diabetes"}
    config.write_text(yaml.safe_dump(data))
    code, out = invoke("train", str(config), "--progress", "none")
    assert code == 2
    assert "training diverged at step" in out and "layers." in out and "(Linear)" in out


def test_remedy_and_bad_inputs(tmp_path: Path) -> None:
    config = _config(tmp_path, "deep", epochs=5)
    data = yaml.safe_load(config.read_text())
    data["model"] = {"arch": "mlp", "hidden": [32] * 20, "activation": "sigmoid"}
    config.write_text(yaml.safe_dump(data))
    code, out = invoke("train", str(config), "--remedy", "--progress", "none")
    assert code == 0, out
    assert "before:" in out and "vanishing_gradients" in out and "model.activation: 'sigmoid' -> 'relu'" in out
    assert "Remedy: before and after" in (tmp_path / "runs" / "deep-remedied" / "report.html").read_text()
    code, out = invoke("compare", str(tmp_path / "runs" / "deep"))
    assert code == 2 and "at least two" in out
    code, out = invoke("diagnose", str(tmp_path / "nowhere"))
    assert code == 2 and "config.yaml is missing" in out


def test_findings_print_even_with_progress_none(tmp_path: Path) -> None:
    """Findings are results: --progress none hides progress, not what the diagnosis found (issue 24, item 14)."""
    config = _config(tmp_path, "quiet", epochs=3)
    data = yaml.safe_load(config.read_text())
    data["model"] = {"arch": "mlp", "hidden": [32] * 20, "activation": "sigmoid"}
    config.write_text(yaml.safe_dump(data))
    code, out = invoke("train", str(config), "--progress", "none")
    assert code == 0, out
    assert "gradients vanish" in out and str(tmp_path / "runs" / "quiet" / "diagnosis.json") in out
