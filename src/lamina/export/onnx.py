"""ONNX export of a run's model, checked with onnxruntime against torch on the run's test inputs.

The TorchScript-based exporter (``dynamo=False``) is used: it needs no extra
package and handles every layer of lamina's chains. The batch axis is
dynamic, so the file serves batch 1 and batch 10,000 alike.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lamina.data.prepare import prepare_data
from lamina.errors import LaminaError
from lamina.files import atomic_write_bytes
from lamina.runs import Run, load_run

OPSET = 17
TOLERANCE = 1e-4
CHECK_ROWS = 256


class ExportError(LaminaError):
    """A model cannot be exported, or its export does not reproduce torch's outputs."""


@dataclass
class Exported:
    """Where the ONNX file went and how far its outputs are from torch's on the checked inputs."""

    path: Path
    max_abs_diff: float
    checked_rows: int


def onnx_bytes(model: nn.Module, input_shape: tuple[int, ...], opset: int = OPSET,
               dtype: torch.dtype = torch.float32) -> bytes:
    """The model as ONNX bytes, with input ``x`` (of ``dtype``: float features or integer token ids) and
    output ``y`` whose first axis (batch) is dynamic."""
    if any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules()):
        raise ExportError("this run holds an int8 (quantized) model; export the float run it was compressed from")
    model = model.to("cpu").eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (torch.zeros((2, *input_shape), dtype=dtype),), buffer, dynamo=False,
                              opset_version=opset, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        except RuntimeError as error:  # an operation torch's ONNX exporter cannot express
            raise ExportError(f"torch could not export this model to ONNX ({str(error).splitlines()[0][:200]}); "
                              "nothing was written") from error
    return buffer.getvalue()


def session(model_bytes: bytes, threads: int = 0):
    """An onnxruntime CPU inference session for ONNX bytes (``threads`` 0 lets onnxruntime choose)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def max_difference(model: nn.Module, model_bytes: bytes, x: torch.Tensor) -> float:
    """Largest absolute difference between torch's and onnxruntime's outputs on ``x``."""
    with torch.inference_mode():
        expected = model.eval()(x).float().numpy()
    feed = x.numpy() if not x.is_floating_point() else x.numpy().astype(np.float32)
    got = session(model_bytes).run(None, {"x": feed})[0]
    return float(np.abs(got - expected).max()) if expected.size else 0.0


def export_run(run: Run | str | Path, out: str | Path | None = None, tolerance: float = TOLERANCE) -> Exported:
    """Export a run to ``out`` (default RUN/model.onnx) and check it on up to 256 test (or train) inputs."""
    if not isinstance(run, Run):
        run = load_run(run)
    shape = tuple(run.preprocessor.inputs.shape)
    data = prepare_data(run.spec.data, fitted=run.preprocessor)
    x = (data.test.x if len(data.test) else data.train.x)[:CHECK_ROWS]
    x = x.float() if x.is_floating_point() else x
    model_bytes = onnx_bytes(run.model, shape, dtype=x.dtype)
    diff = max_difference(run.model, model_bytes, x)
    if not diff <= tolerance:
        raise ExportError(f"the ONNX model's outputs differ from torch's by {diff:.3g} (> {tolerance:g}) "
                          "on the run's test inputs; the file was not written")
    path = Path(out) if out is not None else run.folder.root / "model.onnx"
    atomic_write_bytes(path, model_bytes)
    return Exported(path, diff, len(x))
