"""Batch-1 latency of the serving path against onnxruntime called directly, on the same digits MLP.

Side by side, in one process (no HTTP): onnxruntime's ``session.run`` on a
ready float32 array; the onnx backend's ``outputs`` (what the service adds
around the session); and the whole ``Predictor.predict`` path of a request
(validating the JSON instance, preprocessing, the session, labelled
probabilities). Medians over many calls; the ratios are what to read.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_latency.py
"""

from __future__ import annotations

import tempfile

import numpy as np
from sklearn.datasets import load_digits

import lamina
from lamina.compress.measure import median_seconds
from lamina.export.onnx import export_run
from lamina.serve.app import Predictor


def median_us(fn, repeats: int = 3000) -> float:
    """Median microseconds of ``fn()`` after a warm-up."""
    return median_seconds(fn, repeats=repeats, warmup=200) * 1e6


def main() -> None:
    """Train, export, and print the three latencies with their ratios to onnxruntime alone."""
    root = tempfile.mkdtemp(prefix="lamina-serve-bench-")
    run = lamina.fit({"name": "digits-mlp", "runs_dir": root, "data": {"dataset": "digits", "view": "flat"},
                      "model": {"arch": "mlp", "hidden": [128, 64]},
                      "train": {"epochs": 3, "tensorboard": False}}, progress="none")
    export_run(run)
    predictor = Predictor(run, backend="onnx")
    backend = predictor.backend
    sample = load_digits().data[0]
    instance = [sample.tolist()]
    x = run.preprocessor.inputs.transform_array(sample[None, :], "sample").astype(np.float32)
    direct = median_us(lambda: backend.session.run(None, {"x": x}))
    through_backend = median_us(lambda: backend.outputs(x))
    whole = median_us(lambda: predictor.predict(instance))
    print(f"onnxruntime session.run      {direct:8.1f} us  1.00x")
    print(f"onnx backend outputs         {through_backend:8.1f} us  {through_backend / direct:.2f}x")
    print(f"Predictor.predict (whole)    {whole:8.1f} us  {whole / direct:.2f}x")


if __name__ == "__main__":
    main()
