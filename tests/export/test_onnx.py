"""ONNX export: every registered preset exports with a dynamic batch axis and onnxruntime matches torch
within 1e-4; int8 runs are refused with a message saying what to export instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import lamina
from lamina.config import parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.compress.run import CompressOptions, compress
from lamina.export.onnx import TOLERANCE, ExportError, export_run, native_output_silenced, session
from lamina.registry import PRESETS


def _spec(name: str, tmp_path: Path):
    example = PRESETS.get(name).example
    training = {"epochs": 1, **example.get("train", {}), "tensorboard": False}
    return parse_run_spec({**example, "name": name, "runs_dir": str(tmp_path), "train": training})


# Presets whose models torch's ONNX exporter cannot express, and why; export refuses them with ExportError.
NOT_EXPORTABLE = {
    "sequence": "its recurrent layer packs padded sequences by their lengths (prim::PackPadded has no ONNX form)",
}


@pytest.mark.parametrize("name", [n for n in PRESETS.names() if n not in NOT_EXPORTABLE])
def test_every_preset_exports_and_matches_torch(name: str, tmp_path: Path) -> None:
    run = lamina.fit(_spec(name, tmp_path), progress="none")
    done = export_run(run)
    assert done.path == run.folder.root / "model.onnx" and done.path.is_file()
    assert done.max_abs_diff <= TOLERANCE and done.checked_rows > 0
    ort = session(done.path.read_bytes())
    data = prepare_data(run.spec.data, fitted=run.preprocessor)
    for batch in (1, 7):  # the batch axis is dynamic
        x = data.train.x[-batch:]  # float features or integer token ids, as the model takes them
        with torch.inference_mode():
            expected = run.model.eval()(x).float().numpy()
        got = ort.run(None, {"x": x.numpy()})[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", sorted(NOT_EXPORTABLE))
def test_a_preset_onnx_cannot_express_is_refused_before_tracing_quietly_and_nothing_written(
        name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    run = lamina.fit(_spec(name, tmp_path), progress="none")
    capfd.readouterr()
    with pytest.raises(ExportError, match=r"cannot be exported to ONNX: its recurrent layer \(layers.1\) packs padded"):
        export_run(run)
    assert capfd.readouterr() == ("", ""), "torch printed nothing (no graph dump, no shape-inference warnings)"
    assert not (run.folder.root / "model.onnx").exists()


def test_what_native_code_prints_during_export_stays_off_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    import ctypes
    import os

    with native_output_silenced():
        os.write(1, b"fd 1\n")
        os.write(2, b"fd 2\n")
        ctypes.CDLL(None).printf(b"buffered by the C library\n")
        print("python")
    print("after")
    assert capfd.readouterr() == ("after\n", "")


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
