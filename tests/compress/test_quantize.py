"""Quantization: dynamic int8 for dense nets, static int8 with calibration and QAT for conv nets,
each smaller and about as accurate as the float model."""

from __future__ import annotations

import torch
from torch import nn

from lamina.compress.quantize import quantize_aware, quantize_static, weight_bytes
from lamina.compress.run import CompressOptions, compress
from lamina.data.prepare import prepare_data
from lamina.files import read_json
from lamina.nn.int8 import quantize_dynamic_int8
from lamina.runs import load_run
from lamina.train.loop import fit


def _accuracy(model: nn.Module, data) -> float:
    with torch.inference_mode():
        return (model.eval()(data.test.x.float()).argmax(1) == data.test.y).float().mean().item()


def test_dynamic_int8_run_is_3_5x_smaller_within_one_point(digits_mlp) -> None:
    out = compress(digits_mlp.folder.root, CompressOptions(quantize="dynamic", progress="none", name="int8"))
    original, compressed = read_json(out / "compression.json")["comparison"]
    assert original["file_bytes"] / compressed["file_bytes"] >= 3.5
    assert compressed["score"] >= original["score"] - 0.01, (original["score"], compressed["score"])
    reloaded = load_run(out)  # the int8 file rebuilds exactly (no re-rounding)
    x = prepare_data(reloaded.spec.data, fitted=reloaded.preprocessor).test.x[:64]
    assert torch.equal(reloaded.outputs(x), quantize_dynamic_int8(digits_mlp.model)(x.float()))


def test_static_int8_with_calibration_keeps_a_conv_net_accurate(digits_cnn) -> None:
    data = prepare_data(digits_cnn.spec.data, fitted=digits_cnn.preprocessor)
    qmodel = quantize_static(digits_cnn.model, data.train.x[:512])
    convs = [m for m in qmodel.modules() if "quantized" in type(m).__module__ and "Conv" in type(m).__name__]
    assert len(convs) == 2  # the convs themselves run in int8 (batchnorm folded in)
    assert weight_bytes(digits_cnn.model) / weight_bytes(qmodel) >= 3.5
    assert _accuracy(qmodel, data) >= _accuracy(digits_cnn.model, data) - 0.01


def test_quantization_aware_training_runs_and_keeps_accuracy(digits_cnn) -> None:
    data = prepare_data(digits_cnn.spec.data, fitted=digits_cnn.preprocessor)
    spec = digits_cnn.spec.train.model_copy(update={"epochs": 2, "early_stopping": None,
                                                    "optimizer": digits_cnn.spec.train.optimizer.model_copy(
                                                        update={"lr": 3e-4})})
    losses: list[float] = []

    def train(prepared: nn.Module) -> None:
        fakes = [m for m in prepared.modules() if "FakeQuantize" in type(m).__name__]
        assert fakes, "QAT must insert fake quantization before training"
        state = fit(prepared, data, spec, [], torch.device("cpu"))
        losses.append(state.logs["train_loss"])

    qmodel = quantize_aware(digits_cnn.model, data.train.x[:64], train)
    assert losses and losses[0] < 0.5
    assert weight_bytes(digits_cnn.model) / weight_bytes(qmodel) >= 3.5
    assert _accuracy(qmodel, data) >= _accuracy(digits_cnn.model, data) - 0.01


def test_static_int8_run_is_smaller_keeps_accuracy_and_reloads_exactly(digits_cnn) -> None:
    out = compress(digits_cnn.folder.root, CompressOptions(quantize="static", progress="none", name="cnn-static"))
    report = read_json(out / "compression.json")
    original, compressed = report["comparison"]
    assert "calibrated on 1024 training rows" in report["steps"][0]["quantize"]
    assert original["file_bytes"] / compressed["file_bytes"] >= 3.0  # int8 weights; the header and scales stay
    assert compressed["score"] >= original["score"] - 0.01, (original["score"], compressed["score"])
    reloaded = load_run(out)  # rebuilt from config.yaml and the int8 tensors: no calibration data, no pickle
    convs = [m for m in reloaded.model.modules() if "quantized" in type(m).__module__ and "Conv" in type(m).__name__]
    assert len(convs) == 2
    data = prepare_data(reloaded.spec.data, fitted=reloaded.preprocessor)
    expected = quantize_static(digits_cnn.model, data.train.x[:1024])
    x = data.test.x[:64]
    assert torch.equal(reloaded.outputs(x), expected(x.float()))
