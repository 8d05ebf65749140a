"""Batch-1 latency of the in-process serving paths against onnxruntime called directly, on the digits MLP.

What each line times, in one process (no HTTP), interleaved round by round
(each round takes the median of ``CALLS`` calls of every path in turn; the
figure is the median over ``ROUNDS`` rounds, so a burst of load on a shared
machine hits all paths alike):

- ``onnxruntime direct``: ``InferenceSession.run`` on the run's own
  model.onnx, fed an already preprocessed C-contiguous float32 (1, 64) array,
  returning logits. The reference: nothing validated, scaled or labelled.
- ``serving graph session.run alone``: the same call on the serving graph
  (raw sample in, probabilities out), to split the path's cost into what the
  extra graph nodes take and what Python around them takes.
- ``Predictor.predict_array``: the in-process numeric path. A raw (unscaled)
  float32 (1, 64) sample in, class probabilities out: dtype and shape checked,
  scaling, the finiteness check of every value and the softmax all included
  (inside the serving graph; see lamina.serve.graph).
- ``Predictor.predict``: the path an HTTP request takes after JSON parsing:
  a list of Python numbers in, its values' types checked in one pass and
  converted in one numpy call (the value-by-value checks run only when
  something is wrong), then the serving graph, then a labelled row
  ``{"label": ..., "prob_0": ...}``.
- ``answer`` (lamina.serve.app): all the /predict handler does but HTTP
  framing: the JSON body's bytes in (orjson), the request's form checked
  (pydantic), ``Predictor.predict``, and the response's JSON bytes out.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_latency.py
"""

from __future__ import annotations

import json
import statistics
import tempfile

import numpy as np
from sklearn.datasets import load_digits

import lamina
from lamina.compress.measure import median_seconds
from lamina.export.onnx import export_run, session
from lamina.serve.app import Predictor, answer

ROUNDS = 25
CALLS = 400


def main() -> None:
    """Train, export, and print the paths' batch-1 latencies with their ratios to onnxruntime alone."""
    root = tempfile.mkdtemp(prefix="lamina-serve-bench-")
    run = lamina.fit({"name": "digits-mlp", "runs_dir": root, "data": {"dataset": "digits", "view": "flat"},
                      "model": {"arch": "mlp", "hidden": [128, 64]},
                      "train": {"epochs": 3, "tensorboard": False}}, progress="none")
    exported = export_run(run)
    direct_session = session(exported.path.read_bytes(), threads=1)
    predictor = Predictor(run, backend="onnx")
    sample = load_digits().data[:1]
    raw = sample.astype(np.float32)
    x = run.preprocessor.inputs.transform_array(sample, "sample").astype(np.float32)
    instances = sample.tolist()
    body = json.dumps({"instances": instances}).encode()
    expected = direct_session.run(None, {"x": x})[0].argmax(1)
    assert (predictor.predict_array(raw).argmax(1) == expected).all()
    assert answer(predictor, body)[0] == 200
    paths = {
        "onnxruntime direct (model.onnx)": lambda: direct_session.run(None, {"x": x}),
        "serving graph session.run alone": lambda: predictor.backend.session.run(None, {"raw": raw}),
        "Predictor.predict_array (numeric)": lambda: predictor.predict_array(raw),
        "Predictor.predict (JSON list, rows)": lambda: predictor.predict(instances),
        "answer (JSON body to JSON bytes)": lambda: answer(predictor, body),
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(ROUNDS):
        for name, call in paths.items():
            times[name].append(median_seconds(call, repeats=CALLS, warmup=20) * 1e6)
    reference = statistics.median(times["onnxruntime direct (model.onnx)"])
    print(f"batch 1, digits MLP 64-128-64-10, median of {ROUNDS} interleaved rounds x {CALLS} calls")
    for name, values in times.items():
        value = statistics.median(values)
        print(f"{name:38s} {value:8.2f} us  {value / reference:5.2f}x")


if __name__ == "__main__":
    main()
