"""train.compile: the torch.compile'd forward trains like the eager one (skipped where torch cannot compile)."""

from __future__ import annotations

import pytest
import torch

from lamina.config import parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.nn.build import build_model
from lamina.train.loop import fit


def _train(compile_: bool):
    spec = parse_run_spec({"data": {"dataset": "iris"}, "model": {"arch": "mlp", "hidden": [32]},
                           "train": {"epochs": 10, "batch_size": 16, "optimizer": {"lr": 0.01},
                                     "tensorboard": False, "compile": compile_}})
    data = prepare_data(spec.data)
    torch.manual_seed(0)
    model = build_model(spec.model, data.input_shape, data.n_outputs).model
    return fit(model, data, spec.train, [], torch.device("cpu"))


@pytest.mark.slow
def test_compiled_forward_trains_like_eager(capfd: pytest.CaptureFixture) -> None:
    compiled = _train(True)
    if "torch.compile failed" in capfd.readouterr().err:
        pytest.skip("torch.compile cannot compile on this machine (lamina fell back to eager)")
    eager = _train(False)
    assert compiled.history[-1]["val_accuracy"] > 0.8
    for mine, theirs in zip(compiled.history, eager.history):
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-3)
