"""ONNX export of a run's model, checked with onnxruntime against torch on the run's test inputs.

The TorchScript-based exporter (``dynamo=False``) is used: it needs no extra
package and handles every layer of lamina's chains. The batch axis is
dynamic, so the file serves batch 1 and batch 10,000 alike.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lamina.data.prepare import prepare_data
from lamina.errors import LaminaError
from lamina.files import atomic_write_bytes
from lamina.nn.sequence import Embedding, Recurrent
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
    reason = inexpressible(model)
    if reason is not None:
        raise ExportError(f"this model cannot be exported to ONNX: {reason}; nothing was written. "
                          "Serve it with lamina serve --backend torch")
    model = model.to("cpu").eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), native_output_silenced():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (torch.zeros((2, *input_shape), dtype=dtype),), buffer, dynamo=False,
                              opset_version=opset, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        except RuntimeError as error:  # an operation torch's ONNX exporter cannot express
            raise ExportError(f"torch could not export this model to ONNX ({str(error).splitlines()[0][:200]}); "
                              "nothing was written") from error
    return buffer.getvalue()


def inexpressible(model: nn.Module) -> str | None:
    """Why torch's ONNX exporter cannot express ``model`` (None when it can), found without tracing it.

    A recurrent layer after an embedding with a padding index (the ``sequence`` preset on text) packs each
    batch by its sequence lengths (PackPadded), which has no ONNX form; tracing it fails deep in torch.
    """
    padded = any(isinstance(m, Embedding) and m.padding_index is not None for m in model.modules())
    recurrent = [name for name, m in model.named_modules() if isinstance(m, Recurrent)]
    if padded and recurrent:
        return (f"its recurrent layer ({recurrent[0]}) packs padded token sequences by their lengths, "
                "which torch's ONNX exporter cannot express")
    return None


@contextlib.contextmanager
def native_output_silenced() -> Iterator[None]:
    """Keep what torch's exporter prints (graph dumps from C++, shape-inference warnings) off the terminal.

    Its C++ side writes to file descriptors 1 and 2 directly, so those are pointed at the null device for
    the duration, as well as Python's sys.stdout and sys.stderr; lamina's own error says what went wrong.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        flush_c_streams()  # what C++ buffered goes to the null device too, not to the terminal later
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def flush_c_streams() -> None:
    """Flush the C library's stdio buffers (where C++ std::cout writes) where ctypes can reach them."""
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no process-wide C library handle (Windows)
        pass


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
