"""The training loop: losses by task, regularization, clipping, early stopping, callbacks, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lamina.config import TrainSpec, parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError
from lamina.nn.build import build_model
from lamina.train.callbacks import Callback, EarlyStopping
from lamina.train.loop import TrainingDiverged, fit, penalty
from lamina.trainer import train
from tests.conftest import quick_spec

CPU = torch.device("cpu")


def _setup(train_section: dict, dataset: str = "iris", hidden=(32,)):
    spec = parse_run_spec({"data": {"dataset": dataset}, "model": {"arch": "mlp", "hidden": list(hidden)},
                           "train": {"tensorboard": False, **train_section}})
    data = prepare_data(spec.data)
    torch.manual_seed(0)
    return spec, data, build_model(spec.model, data.input_shape, data.n_outputs).model


class Recorder(Callback):
    """Records the events it sees."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def on_train_start(self, state) -> None:
        self.events.append("train_start")

    def on_epoch_start(self, state) -> None:
        self.events.append("epoch_start")

    def on_batch_end(self, state) -> None:
        self.events.append("batch")

    def on_epoch_end(self, state) -> None:
        self.events.append("epoch_end")

    def on_train_end(self, state) -> None:
        self.events.append("train_end")


def test_events_arrive_in_order() -> None:
    spec, data, model = _setup({"epochs": 2, "batch_size": 50})
    recorder = Recorder()
    state = fit(model, data, spec.train, [recorder], CPU)
    per_epoch = ["epoch_start", "batch", "batch", "batch", "epoch_end"]
    assert recorder.events == ["train_start", *per_epoch, *per_epoch, "train_end"]
    assert state.step == 6 and [h["epoch"] for h in state.history] == [1, 2]
    assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(state.history[0])


def test_early_stopping_stops_when_monitor_stalls() -> None:
    spec, data, model = _setup({"epochs": 200, "optimizer": {"lr": 0.05}})
    state = fit(model, data, spec.train, [EarlyStopping("val_loss", "min", 3, 0.0)], CPU)
    assert state.stopped_early and len(state.history) < 200
    losses = [h["val_loss"] for h in state.history]
    best = losses.index(min(losses))
    assert len(losses) - 1 - best == 3


def test_l1_drives_weights_toward_zero() -> None:
    spec, data, plain = _setup({"epochs": 30, "optimizer": {"lr": 0.01}})
    fit(plain, data, spec.train, [], CPU)
    spec_l1, _, sparse = _setup({"epochs": 30, "l1": 0.01, "optimizer": {"lr": 0.01}})
    fit(sparse, data, spec_l1.train, [], CPU)
    def small(m):
        w = torch.cat([p.detach().abs().flatten() for p in m.parameters() if p.dim() > 1])
        return float((w < 1e-2).float().mean())
    assert small(sparse) > small(plain) + 0.2


def test_l2_shrinks_the_weight_norm() -> None:
    spec, data, plain = _setup({"epochs": 30, "optimizer": {"lr": 0.01}})
    fit(plain, data, spec.train, [], CPU)
    spec_l2, _, shrunk = _setup({"epochs": 30, "l2": 0.01, "optimizer": {"lr": 0.01}})
    fit(shrunk, data, spec_l2.train, [], CPU)
    norm = lambda m: float(sum(p.detach().pow(2).sum() for p in m.parameters() if p.dim() > 1))
    assert norm(shrunk) < 0.7 * norm(plain)


def test_penalty_is_zero_when_off_and_exact_when_on() -> None:
    w = [torch.tensor([[1.0, -2.0]])]
    assert penalty(w, 0.0, 0.0) == 0.0
    assert float(penalty(w, 0.5, 0.25)) == pytest.approx(0.5 * 3 + 0.25 * 5)


def test_clipping_bounds_the_gradient_norm() -> None:
    spec, data, model = _setup({"epochs": 1, "clip_norm": 0.01, "batch_size": 200})
    norms = []

    class Grad(Callback):
        def on_batch_end(self, state) -> None:
            norms.append(float(torch.sqrt(sum(p.grad.pow(2).sum() for p in state.model.parameters()))))

    fit(model, data, spec.train, [Grad()], CPU)
    assert norms and max(norms) <= 0.01 + 1e-6


def test_divergence_is_reported_not_trained_through() -> None:
    spec, data, model = _setup({"epochs": 5, "optimizer": {"name": "sgd", "lr": 1e12}}, dataset="diabetes")
    with pytest.raises(TrainingDiverged, match="the training loss became (nan|inf) in epoch"):
        fit(model, data, spec.train, [], CPU)


def test_bf16_autocast_trains_on_cpu() -> None:
    spec, data, model = _setup({"epochs": 15, "precision": "bf16", "optimizer": {"lr": 0.01}, "batch_size": 16})
    state = fit(model, data, spec.train, [], CPU)
    assert state.history[-1]["val_accuracy"] > 0.8


def test_loss_must_fit_the_task() -> None:
    spec, data, model = _setup({"epochs": 1, "loss": "mse"})
    with pytest.raises(ConfigError, match="train.loss 'mse' does not fit a multiclass task; use one of cross_entropy"):
        fit(model, data, spec.train, [], CPU)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_regression_losses_reduce_error(loss: str) -> None:
    spec, data, model = _setup({"epochs": 30, "loss": loss, "optimizer": {"lr": 0.01}}, dataset="diabetes")
    state = fit(model, data, spec.train, [], CPU)
    truth = data.preprocessor.target.decode_values(data.val.y.double().numpy())
    mean_predictor_mse = float(((truth - data.preprocessor.target.mean[0]) ** 2).mean())
    assert state.history[-1]["val_mse"] < 0.75 * mean_predictor_mse


def test_label_smoothing_keeps_confidence_below_one() -> None:
    spec, data, model = _setup({"epochs": 60, "label_smoothing": 0.3, "optimizer": {"lr": 0.02}})
    fit(model, data, spec.train, [], CPU)
    with torch.no_grad():
        probs = model.eval()(data.train.x).softmax(dim=1).max(dim=1).values
    assert float(probs.max()) < 0.95


def test_same_seed_gives_identical_metrics(tmp_path: Path) -> None:
    lines = []
    for i in range(2):
        raw = quick_spec(tmp_path / str(i), train={"epochs": 3, "tensorboard": False})
        run = train(parse_run_spec(raw), progress="none")
        lines.append([{k: v for k, v in json.loads(l).items() if k != "seconds"}
                      for l in run.folder.metrics.read_text().splitlines()])
    assert lines[0] == lines[1]


def test_unknown_monitor_is_refused_before_training(tmp_path: Path) -> None:
    raw = quick_spec(tmp_path, train={"early_stopping": {"monitor": "val_acc"}})
    with pytest.raises(ConfigError, match=r"train.early_stopping.monitor must be one of .*got 'val_acc'. Did you mean 'val_accuracy'"):
        train(parse_run_spec(raw), progress="none")
    assert not (tmp_path / "runs").exists()


def test_train_spec_defaults_are_sound() -> None:
    spec = TrainSpec()
    assert spec.optimizer.name == "adam" and spec.restore_best and spec.monitor == "val_loss"


def test_loader_path_trains_as_well_as_the_memory_path() -> None:
    finals = []
    for path in ("memory", "loader"):
        spec, data, model = _setup({"epochs": 15, "batch_size": 16, "optimizer": {"lr": 0.01}})
        state = fit(model, data, spec.train, [], CPU, seed=5, batch_path=path)
        finals.append(state.history[-1])
    assert all(f["val_accuracy"] > 0.85 for f in finals)
    assert abs(finals[0]["val_loss"] - finals[1]["val_loss"]) < 0.15


def test_batch_start_may_replace_the_batch_and_on_loss_may_add_terms() -> None:
    seen = {}

    class Blind(Callback):
        """Hides the inputs and pulls every weight toward 0.5 through an extra loss term."""

        def on_batch_start(self, state) -> None:
            state.xb = torch.zeros_like(state.xb)

        def on_loss(self, state) -> None:
            state.objective = state.objective + 10 * sum((p - 0.5).pow(2).sum() for p in state.model.parameters())

        def on_after_backward(self, state) -> None:
            seen["grad"] = all(p.grad is not None for p in state.model.parameters())

    spec, data, model = _setup({"epochs": 20, "optimizer": {"lr": 0.01}})
    state = fit(model, data, spec.train, [Blind()], CPU)
    assert seen["grad"]
    assert state.history[-1]["val_accuracy"] < 0.5  # inputs were hidden: chance level on 3 classes
    assert float(torch.cat([p.detach().flatten() for p in model.parameters()]).mean()) > 0.3


def test_only_overridden_events_are_called() -> None:
    from lamina.train.callbacks import handlers

    recorder = Recorder()
    assert handlers([recorder, Callback()], "on_loss") == []
    assert len(handlers([recorder, Callback()], "on_batch_end")) == 1
