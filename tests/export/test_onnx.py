"""ONNX export: every registered preset exports with a dynamic batch axis and onnxruntime matches torch
within 1e-4; int8 runs are refused with a message saying what to export instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import lamina
from lamina.config import parse_run_spec
from lamina.compress.run import CompressOptions, compress
from lamina.export.onnx import TOLERANCE, ExportError, export_run, session
from lamina.registry import PRESETS


def _spec(name: str, tmp_path: Path):
    example = PRESETS.get(name).example
    training = {"epochs": 1, **example.get("train", {}), "tensorboard": False}
    return parse_run_spec({**example, "name": name, "runs_dir": str(tmp_path), "train": training})


@pytest.mark.parametrize("name", PRESETS.names())
def test_every_preset_exports_and_matches_torch(name: str, tmp_path: Path) -> None:
    run = lamina.fit(_spec(name, tmp_path), progress="none")
    done = export_run(run)
    assert done.path == run.folder.root / "model.onnx" and done.path.is_file()
    assert done.max_abs_diff <= TOLERANCE and done.checked_rows > 0
    ort = session(done.path.read_bytes())
    for batch in (1, 7):  # the batch axis is dynamic
        x = torch.randn((batch, *run.preprocessor.inputs.shape))
        with torch.inference_mode():
            expected = run.model.eval()(x).numpy()
        got = ort.run(None, {"x": x.numpy()})[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


def test_the_cli_exports_and_an_int8_run_is_refused(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lamina.cli import app

    run = lamina.fit(_spec("mlp", tmp_path), progress="none")
    result = CliRunner().invoke(app, ["export", str(run.folder.root), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert "onnxruntime matches torch" in result.output
    int8 = compress(run.folder.root, CompressOptions(quantize="dynamic", progress="none", name="int8"))
    with pytest.raises(ExportError, match="int8"):
        export_run(int8)
    assert not (int8 / "model.onnx").exists()
    bad = CliRunner().invoke(app, ["export", str(run.folder.root), "--format", "tflite"])
    assert bad.exit_code == 2 and "--format must be one of onnx" in bad.output
