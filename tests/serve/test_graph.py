"""The serving graph and Predictor.predict_array: the same predictions as torch with the run's numpy
preprocessing, for each task and input layout; every non-finite, misshapen or non-numeric batch refused
naming its place; and nothing slow (the scaling folded away where the model allows it)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

import lamina
from lamina.export.onnx import export_run
from lamina.runs import prediction_values
from lamina.serve.app import Predictor
from lamina.serve.graph import serving_graph
from lamina.serve.payload import PayloadError

SPLIT = {"val": 0.15, "test": 0.2, "seed": 0}
RUNS = {
    "digits-mlp": ({"dataset": "digits", "view": "flat"}, {"arch": "mlp", "hidden": [32]}, load_digits),
    "digits-cnn": ({"dataset": "digits", "view": "image"}, {"arch": "cnn", "channels": [8], "dense": [16]}, load_digits),
    "cancer-binary": ({"dataset": "breast_cancer"}, {"arch": "mlp", "hidden": [16]}, load_breast_cancer),
    "diabetes-regression": ({"dataset": "diabetes"}, {"arch": "mlp", "hidden": [16]}, load_diabetes),
}


@pytest.fixture(scope="module", params=list(RUNS))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A small trained and exported run of each kind, with raw samples for it."""
    data, model, loader = RUNS[request.param]
    run = lamina.fit({"name": request.param, "seed": 0, "runs_dir": str(tmp_path_factory.mktemp("graph")),
                      "data": {**data, "split": SPLIT}, "model": model,
                      "train": {"epochs": 2, "optimizer": {"lr": 0.003}, "tensorboard": False}}, progress="none")
    export_run(run)
    raw = loader().data[:40].reshape(40, *run.preprocessor.inputs.shape)
    return run, raw


def _reference(run, raw: np.ndarray) -> np.ndarray:
    """Predictions the plain way: numpy preprocessing, the torch model, the torch head."""
    return prediction_values(run.outputs(run.preprocessor.inputs.transform_array(raw, "test")), run.preprocessor.target)


def test_onnx_predict_array_matches_torch_with_numpy_preprocessing(exported) -> None:
    run, raw = exported
    expected = _reference(run, raw)
    onnx_path, torch_path = Predictor(run, backend="onnx"), Predictor(run, backend="torch")
    tolerance = 1e-4 * max(1.0, float(np.abs(expected).max()))  # regression values are in the target's units
    np.testing.assert_allclose(onnx_path.predict_array(raw.astype(np.float32)), expected, atol=tolerance)
    np.testing.assert_allclose(onnx_path.predict_array(raw[:1].astype(np.float32)), expected[:1], atol=tolerance)
    np.testing.assert_allclose(onnx_path.predict_array(raw.reshape(len(raw), -1)), expected, atol=tolerance)  # float64, flat
    np.testing.assert_allclose(torch_path.predict_array(raw), expected, atol=1e-6)
    rows = onnx_path.predict(raw.reshape(len(raw), -1).tolist())  # the JSON path goes through the graph too
    torch_rows = torch_path.predict(raw.reshape(len(raw), -1).tolist())
    assert [list(row) for row in rows] == [list(row) for row in torch_rows]
    for row, torch_row in zip(rows, torch_rows):
        for key, value in row.items():
            assert value == (pytest.approx(torch_row[key], abs=tolerance) if isinstance(value, float) else torch_row[key])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_anywhere_is_refused_naming_its_place(exported, bad: float) -> None:
    run, raw = exported
    batch = raw[:3].astype(np.float32)
    flat_index = batch[0].size - 1
    batch.reshape(3, -1)[2, flat_index] = bad
    place = [2, *np.unravel_index(flat_index, batch.shape[1:])]
    for backend in ("onnx", "torch"):
        with pytest.raises(PayloadError) as caught:
            Predictor(run, backend=backend).predict_array(batch)
        assert caught.value.loc == ["body", "instances", *place]
        assert "finite" in str(caught.value)


def test_wrong_shapes_types_and_float32_overflow_are_refused(exported) -> None:
    run, raw = exported
    predictor = Predictor(run, backend="onnx")
    cases = [
        (raw[:2, ..., :-1] if raw.ndim == 2 else raw[:2, :, :, :-1], "shape"),
        (raw[:2].astype(str), "numeric numpy array"),
        (raw[:2] > 0, "numeric numpy array"),
        (raw[:2].tolist(), "numeric numpy array"),
    ]
    for batch, words in cases:
        with pytest.raises(PayloadError, match=words):
            predictor.predict_array(batch)
    huge = raw[:2].astype(np.float64)
    huge.reshape(2, -1)[1, 0] = 1e39  # finite, but not as float32
    with pytest.raises(PayloadError, match="float32 range") as caught:
        predictor.predict_array(huge)
    assert caught.value.loc[:3] == ["body", "instances", 1]
    with pytest.raises(PayloadError, match="float32 range") as caught:  # the JSON path says the same
        predictor.predict(huge.reshape(2, -1).tolist())
    assert caught.value.loc == ["body", "instances", 1, 0]



def test_the_json_path_names_a_bad_value_by_row_and_column(exported) -> None:
    run, raw = exported
    predictor = Predictor(run, backend="onnx")
    for bad, words in [(True, "must be a number"), ("3", "must be a number"), (None, "must be a number"),
                       (float("nan"), "finite")]:
        rows = raw[:3].reshape(3, -1).tolist()
        rows[2][5] = bad
        with pytest.raises(PayloadError, match=words) as caught:
            predictor.predict(rows)
        assert caught.value.loc == ["body", "instances", 2, 5]
        assert "instances[2][5]" in str(caught.value)

def test_the_scaling_is_folded_into_a_leading_dense_layer(exported) -> None:
    run, _ = exported
    model = onnx.load_from_string(serving_graph((run.folder.root / "model.onnx").read_bytes(), run.preprocessor))
    ops = [node.op_type for node in model.graph.node]
    leading_dense = run.preprocessor.inputs.shape == [len(run.preprocessor.inputs.offset)]
    assert ("Sub" in ops) != leading_dense  # a conv net (padding) keeps the scaling as Sub and Mul nodes
