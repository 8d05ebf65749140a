"""The command line end to end: happy paths, and bad inputs that must give exit 2 and one clear line."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lamina.cli import app

runner = CliRunner()


def invoke(*args: str):
    """Run the CLI in-process and return (exit code, combined output)."""
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def csv_workspace(tmp_path_factory: pytest.TempPathFactory):
    """A trained CSV run (trained through the CLI) and its data file."""
    from tests.conftest import tabular_csv

    tmp = tmp_path_factory.mktemp("cli")
    data = tabular_csv.__wrapped__(tmp)
    config = write_config(tmp / "run.yaml", {
        "name": "cli", "runs_dir": str(tmp / "runs"),
        "data": {"path": str(data), "target": "label"},
        "model": {"arch": "mlp", "hidden": [16]},
        "train": {"epochs": 5, "tensorboard": False},
    })
    code, out = invoke("train", str(config), "--set", "train.optimizer.lr=0.01", "--progress", "plain")
    assert code == 0, out
    assert "accuracy" in out and "confusion matrix" in out and "run folder:" in out
    return tmp, data, tmp / "runs" / "cli"


def test_train_evaluate_predict_round_trip(csv_workspace) -> None:
    tmp, data, run = csv_workspace
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["optimizer"]["lr"] == 0.01
    code, out = invoke("evaluate", str(run))
    assert code == 0 and "test metrics" in out
    scored = list(csv.DictReader(open(run / "predictions" / "test.csv")))
    lines = data.read_text().splitlines()
    subset = tmp / "subset.csv"
    subset.write_text("\n".join([lines[0]] + [lines[int(r["row"]) + 1] for r in scored]) + "\n")
    code, out = invoke("predict", str(run), str(subset), "--out", str(tmp / "preds.csv"))
    assert code == 0, out
    predicted = list(csv.DictReader(open(tmp / "preds.csv")))
    assert predicted == [{k: v for k, v in r.items() if k not in ("row", "true")} for r in scored]


def test_summary_and_info(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", {"data": {"dataset": "digits"}, "model": {"layers": [
        {"conv2d": 8}, "relu", {"maxpool": 2}, {"residual": [{"conv2d": 8}, "relu"]}, "flatten", {"dense": 10}]}})
    code, out = invoke("summary", str(config))
    assert code == 0, out
    assert "(B, 8, 4, 4)" in out and "(B, 128)" in out and "trainable parameters: 1,954" in out
    code, out = invoke("info")
    assert code == 0 and all(word in out for word in ("conv2d", "resnet", "breast_cancer", "onecycle", "huber", "f1"))


BAD_CONFIGS = {
    "unknown key": ({"data": {"datset": "iris"}, "model": {"arch": "mlp"}}, "data.datset is not a known field. Did you mean 'dataset'"),
    "misspelled layer": ({"data": {"dataset": "iris"}, "model": {"layers": [{"dens": 3}]}}, "model.layers[0] layer name must be one of"),
    "wrong type": ({"data": {"dataset": "iris"}, "model": {"arch": "mlp"}, "train": {"epochs": "ten"}}, "train.epochs must be a valid integer"),
    "negative size": ({"data": {"dataset": "iris"}, "model": {"layers": [{"dense": -3}]}}, "model.layers[0].dense.units must be greater than 0; got -3"),
    "unknown dataset": ({"data": {"dataset": "mnist"}, "model": {"arch": "mlp"}}, "data.dataset must be one of adding, breast_cancer"),
    "uninferable shape": ({"data": {"dataset": "iris"}, "model": {"layers": [{"conv2d": 4}, "flatten", {"dense": 3}]}},
                          "model.layers[0] (conv2d) expects input shaped (channels, height, width); got (4,)"),
    "missing target column": ({"data": {"path": "TABLE", "target": "lable"}, "model": {"arch": "mlp"}}, "has no column 'lable'. Did you mean 'label'"),
    "text in numeric column": ({"data": {"path": "TABLE", "target": "label", "numeric": ["colour"]}, "model": {"arch": "mlp"}},
                               "column 'colour': expected a number; got text"),
    "empty data file": ({"data": {"path": "EMPTY", "target": "y"}, "model": {"arch": "mlp"}}, "empty.csv is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_gives_exit_2_and_a_named_message(case: str, tmp_path: Path, tabular_csv: Path) -> None:
    config, expected = BAD_CONFIGS[case]
    (tmp_path / "empty.csv").write_text("")
    text = yaml.safe_dump(config).replace("TABLE", str(tabular_csv)).replace("EMPTY", str(tmp_path / "empty.csv"))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, out = invoke("train", str(path), "--set", f"runs_dir={tmp_path / 'runs'}", "--progress", "none")
    assert code == 2
    assert expected in out
    assert "Traceback" not in out and len(out.strip().splitlines()) <= 3
    assert not (tmp_path / "runs").exists()


def test_bad_files_give_exit_2(tmp_path: Path, csv_workspace) -> None:
    _, _, run = csv_workspace
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    cases = [
        (("train", str(empty)), "empty.yaml is empty"),
        (("train", str(tmp_path / "nope.yaml")), "nope.yaml does not exist"),
        (("evaluate", str(tmp_path / "no-run")), "run folder"),
        (("predict", str(run), str(tmp_path / "x.txt")), "must be a .csv or .npz file"),
        (("train", str(write_config(tmp_path / "ok.yaml", {"data": {"dataset": "iris"}, "model": {"arch": "mlp"}})),
          "--set", "oops"), "override must be key.path=value; got 'oops'"),
    ]
    for args, expected in cases:
        code, out = invoke(*args)
        assert code == 2 and expected in out and "Traceback" not in out, (args, out)


def test_text_in_numeric_column_at_predict_time(tmp_path: Path, csv_workspace) -> None:
    _, _, run = csv_workspace
    bad = tmp_path / "bad.csv"
    bad.write_text("size,weight,colour\n1.0,heavy,red\n")
    code, out = invoke("predict", str(run), str(bad))
    assert code == 2 and "row 2, column 'weight': expected a number; got text 'heavy'" in out


def test_run_folder_missing_weights(tmp_path: Path, csv_workspace) -> None:
    _, _, run = csv_workspace
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "model.safetensors").unlink()
    for command in ("evaluate", "predict"):
        args = [command, str(copy)] + ([str(tmp_path / "in.csv")] if command == "predict" else [])
        code, out = invoke(*args)
        assert code == 2 and "model.safetensors is missing" in out


def test_real_process_exit_code_and_no_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path / "bad.yaml", {"data": {"dataset": "iris"}, "model": {"layers": [{"maxpol": 2}]}})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-m", "lamina", "train", str(config)], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {config}: model.layers[0] layer name") and "Did you mean 'maxpool'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_tune_bad_inputs_give_exit_2_and_leave_the_stored_study_alone(tmp_path: Path) -> None:
    tuned = {"name": "cli-tune", "runs_dir": str(tmp_path / "runs"), "data": {"dataset": "iris"},
             "model": {"arch": "mlp", "hidden": [8]}, "train": {"epochs": 2, "tensorboard": False},
             "tune": {"params": {"train.optimizer.lr": {"low": 1e-3, "high": 0.1, "log": True}}}}
    config = write_config(tmp_path / "tune.yaml", tuned)
    plain = write_config(tmp_path / "plain.yaml", {k: v for k, v in tuned.items() if k != "tune"})
    url = f"sqlite:///{tmp_path / 'study.db'}"
    for args, message in [
        ((str(config), "--trials", "0"), "--trials must be a positive integer; got 0"),
        ((str(config), "--jobs", "0"), "--jobs must be a positive integer; got 0"),
        ((str(plain),), "the config has no tune: section"),
        ((str(config), "--storage", "nosuchdb://x"), "--storage 'nosuchdb://x' cannot be opened"),
    ]:
        code, out = invoke("tune", *args)
        assert code == 2 and message in out, (args, out)

    code, out = invoke("tune", str(config), "--trials", "1", "--storage", url, "--out", str(tmp_path / "out"))
    assert code == 0 and "1 trials {'complete': 1}" in out, out
    code, out = invoke("tune", str(config), "--trials", "2", "--storage", url, "--out", str(tmp_path / "out"),
                       "--set", "train.epochs=3")
    assert code == 2 and "was started from a different config" in out, out
    code, out = invoke("tune", str(config), "--trials", "2", "--storage", url, "--out", str(tmp_path / "out"))
    assert code == 0 and "2 trials {'complete': 2}" in out, out


def _commands_with_progress():
    """(command path, number of required arguments) of every CLI command that has a --progress option."""
    import typer.main

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])
        if any(p.name == "progress" for p in command.params):
            yield path, sum(1 for p in command.params if p.param_type_name == "argument" and p.required)

    return list(walk(typer.main.get_command(app), []))


@pytest.mark.parametrize("path,arguments", _commands_with_progress(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_an_unknown_progress_style_is_refused_by_every_command_with_the_allowed_values(
        path: list[str], arguments: int, tmp_path: Path) -> None:
    code, out = invoke(*path, "--progress", "fancy", *[str(tmp_path / "missing.yaml")] * arguments)
    assert code == 2 and "Traceback" not in out
    assert out.startswith("error: --progress must be one of ") and "got 'fancy'" in out, out
    assert not any(tmp_path.iterdir()), "nothing was written"
    assert len(_commands_with_progress()) >= 8


def test_a_chain_ending_in_softmax_gets_one_warning_line_naming_the_layer(tmp_path: Path) -> None:
    config = write_config(tmp_path / "soft.yaml", {"data": {"dataset": "iris"},
                                                   "model": {"layers": [{"dense": 8}, "relu", {"dense": 3}, "softmax"]}})
    code, out = invoke("summary", str(config))
    assert code == 0, out
    assert out.startswith("warning: model.layers[3] (softmax) ends the chain, but the multiclass loss takes logits"), out


def test_summary_shows_what_arch_auto_picks(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", {"data": {"dataset": "iris"}})  # no model section: auto
    code, out = invoke("summary", str(config))
    assert code == 0, out
    assert "model: arch auto chose mlp (hidden: [16])" in out and "run: mlp on dataset 'iris'" in out
    assert "trainable parameters: 131" in out  # 4*16+16 + 16*3+3
