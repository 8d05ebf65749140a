"""``lamina compress``: a new run folder that loads like any other, and a comparison table against the original."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lamina.cli import app
from lamina.data.prepare import prepare_data
from lamina.files import read_json
from lamina.runs import load_run


def test_compress_writes_a_new_run_folder_and_comparison_table(digits_mlp) -> None:
    source = digits_mlp.folder.root
    before = sorted(p.name for p in source.iterdir())
    result = CliRunner().invoke(app, ["compress", str(source), "--prune", "0.5", "--finetune-epochs", "2",
                                      "--quantize", "dynamic", "--name", "mlp-small", "--progress", "none"],
                                 env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = source.parent / "mlp-small"
    assert f"run folder: {out}" in result.output
    for column in ("params", "file size", "latency b=1", "latency b=256", "test score"):
        assert column in result.output
    assert {"config.yaml", "model.safetensors", "preprocess.json", "compression.json"} <= {p.name for p in out.iterdir()}
    report = read_json(out / "compression.json")
    original, compressed = report["comparison"]
    assert [s for step in report["steps"] for s in step] == ["prune", "quantize"]
    assert compressed["file_bytes"] * 8 < original["file_bytes"]  # half the neurons, then int8
    assert compressed["score"] >= original["score"] - 0.03
    assert load_run(out).spec.name == "mlp-small"
    assert sorted(p.name for p in source.iterdir()) == before  # the original is left untouched


def test_compress_without_a_step_is_refused_with_the_options(digits_mlp) -> None:
    result = CliRunner().invoke(app, ["compress", str(digits_mlp.folder.root)])
    assert result.exit_code == 2
    assert "prune (an amount)" in result.output and "quantize (dynamic|static|qat)" in result.output


@pytest.mark.parametrize("mode", ["static", "qat"])
def test_compress_quantizes_a_conv_net_to_int8_from_the_cli(digits_cnn, mode: str) -> None:
    source = digits_cnn.folder.root
    result = CliRunner().invoke(app, ["compress", str(source), "--quantize", mode, "--finetune-epochs", "1",
                                      "--name", f"cnn-{mode}", "--progress", "none"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = source.parent / f"cnn-{mode}"
    assert "latency b=256" in result.output and f"run folder: {out}" in result.output
    report = read_json(out / "compression.json")
    original, compressed = report["comparison"]
    assert report["steps"][0]["quantize"].startswith("static int8")
    assert original["file_bytes"] / compressed["file_bytes"] >= 3.0
    assert compressed["score"] >= original["score"] - 0.015, (original["score"], compressed["score"])
    reloaded = load_run(out)
    x = prepare_data(reloaded.spec.data, fitted=reloaded.preprocessor).test.x[:256]
    agreement = (reloaded.outputs(x).argmax(1) == digits_cnn.outputs(x).argmax(1)).float().mean().item()
    assert agreement >= 0.97


def test_compress_refuses_an_unknown_quantization_mode(digits_cnn) -> None:
    result = CliRunner().invoke(app, ["compress", str(digits_cnn.folder.root), "--quantize", "int4"])
    assert result.exit_code != 0
    assert "--quantize must be 'dynamic', 'static' or 'qat'; got 'int4'" in result.output


def test_distilling_with_a_name_writes_one_folder_of_that_name(digits_mlp, tmp_path) -> None:
    student = tmp_path / "student.yaml"
    student.write_text("data: {dataset: digits}\nmodel: {arch: mlp, hidden: [16]}\n"
                       "train: {epochs: 2, tensorboard: false, diagnose: false}\n")
    runs = digits_mlp.folder.root.parent
    before = {p.name for p in runs.iterdir()}
    alone = CliRunner().invoke(app, ["compress", str(digits_mlp.folder.root), "--distill", str(student),
                                     "--name", "distilled", "--progress", "none"])
    assert alone.exit_code == 0, alone.output
    assert {p.name for p in runs.iterdir()} - before == {"distilled"}, "one name, one folder"
    assert read_json(runs / "distilled" / "compression.json")["steps"][0]["distill"]["run"] == "distilled"
    assert load_run(runs / "distilled").spec.name == "distilled"

    both = CliRunner().invoke(app, ["compress", str(digits_mlp.folder.root), "--distill", str(student),
                                    "--quantize", "dynamic", "--name", "tiny", "--progress", "none"])
    assert both.exit_code == 0, both.output
    assert {p.name for p in runs.iterdir()} - before == {"distilled", "tiny-student", "tiny"}
    assert read_json(runs / "tiny" / "compression.json")["steps"][0]["distill"]["run"] == "tiny-student"
    assert load_run(runs / "tiny").spec.name == "tiny" and load_run(runs / "tiny-student").spec.name == "tiny-student"
