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
    with pytest.raises(TrainingDiverged, match=r"training diverged at step \d+ \(epoch 1, batch \d+ of 5\): the loss is (nan|inf)"):
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


def test_same_config_and_seed_give_an_identical_metrics_file(tmp_path: Path) -> None:
    files = []
    for i in range(2):
        raw = quick_spec(tmp_path / str(i), model={"arch": "mlp", "hidden": [16], "dropout": 0.3},
                         train={"epochs": 3, "batch_size": 16, "tensorboard": False})
        run = train(parse_run_spec(raw), progress="none")
        files.append((run.folder.metrics.read_bytes(), run.folder.losses.read_bytes()))
    assert files[0] == files[1]
    assert len(files[0][0].splitlines()) == 3 and b"seconds" not in files[0][0]
    other = quick_spec(tmp_path / "other", seed=1, model={"arch": "mlp", "hidden": [16], "dropout": 0.3},
                       train={"epochs": 3, "batch_size": 16, "tensorboard": False})
    assert train(parse_run_spec(other), progress="none").folder.metrics.read_bytes() != files[0][0]


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


def _weights(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("dataset,optimizer", [("iris", "sgd"), ("iris", "adam"), ("diabetes", "momentum")])
def test_accumulated_micro_batches_make_the_update_of_one_larger_batch(dataset: str, optimizer: str) -> None:
    # 105 (iris) / 309 (diabetes) training rows: the last micro-batch and the last group are smaller
    common = {"epochs": 3, "l2": 0.001, "schedule": {"name": "cosine"}, "optimizer": {"name": optimizer, "lr": 0.05}}
    updates = {}
    for batch, k in ((32, 1), (8, 4), (16, 2)):
        spec, data, model = _setup({**common, "batch_size": batch, "accumulate_steps": k}, dataset=dataset)
        seen = []

        class Steps(Callback):
            def on_batch_end(self, state) -> None:
                if state.at_update:
                    seen.append(_weights(state.model))

        state = fit(model, data, spec.train, [Steps()], CPU)
        updates[k] = (torch.stack(seen), state.history)
    big, history = updates[1]
    assert len(big) == 3 * -(-len(data.train) // 32)
    for k in (4, 2):
        assert updates[k][0].shape == big.shape
        assert torch.allclose(updates[k][0], big, rtol=0, atol=2e-6), float((updates[k][0] - big).abs().max())
        assert [h["lr"] for h in updates[k][1]] == [h["lr"] for h in history]
        assert [h["train_loss"] for h in updates[k][1]] == pytest.approx([h["train_loss"] for h in history], abs=1e-6)


def test_plain_averaging_of_uneven_micro_batches_would_not_be_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: weighting each of k micro-batches by 1/k misweights the smaller last ones."""
    import lamina.train.loop as loop

    runs = []
    for naive in (False, True):
        if naive:
            monkeypatch.setattr(loop, "accumulation_shares", lambda n, b, k: [1 / k] * -(-n // b))
        spec, data, model = _setup({"epochs": 1, "batch_size": 8, "accumulate_steps": 4, "optimizer": {"name": "sgd", "lr": 0.5}})
        fit(model, data, spec.train, [], CPU)
        runs.append(_weights(model))
    assert float((runs[0] - runs[1]).abs().max()) > 1e-3


def test_a_non_finite_gradient_stops_at_that_step_naming_the_layer(tmp_path: Path) -> None:
    class Poison(Callback):
        """At the third step, add sqrt(|w - w|) of the head's weights: the loss stays finite, the gradient is NaN."""

        def on_loss(self, state) -> None:
            if state.step == 2:
                w = state.model.layers[2].weight
                state.objective = state.objective + (w - w.detach()).abs().sum().sqrt()

    raw = quick_spec(tmp_path, train={"epochs": 2, "batch_size": 16, "tensorboard": False, "checkpoint": {"every_steps": 1}})
    seen = []

    class Watch(Callback):
        def on_batch_end(self, state) -> None:
            seen.append(_weights(state.model))

    with pytest.raises(TrainingDiverged) as caught:
        train(parse_run_spec(raw), progress="none", extra_callbacks=[Poison(), Watch()])
    message = str(caught.value)
    assert message.startswith("training diverged at step 3 (epoch 1, batch 3 of 7): the loss is ")
    assert "but the first layer with a non-finite gradient is layers.2.weight (Linear)" in message
    assert message.endswith(f"the last good checkpoint is kept: {tmp_path / 'runs' / 't' / 'checkpoints' / 'step-000000002'}")
    assert len(seen) == 2 and all(torch.isfinite(w).all() for w in seen)
    losses = (tmp_path / "runs" / "t" / "losses.jsonl").read_text().splitlines()
    assert len(losses) == 3  # the failing batch is logged too


def test_a_non_finite_loss_names_the_batch_inside_an_accumulation_group() -> None:
    class Blowup(Callback):
        def on_batch_start(self, state) -> None:
            if state.step == 1 and state.batch == 6:  # the 7th batch: second in the group of batches 6-10
                state.xb = state.xb * float("inf")

    spec, data, model = _setup({"epochs": 1, "batch_size": 8, "accumulate_steps": 5})
    with pytest.raises(TrainingDiverged, match=r"at step 2 \(epoch 1, batch 7 of 14\): the loss is nan; "
                                               r"the first layer with a non-finite gradient is layers.0.weight"):
        fit(model, data, spec.train, [Blowup()], CPU)


def test_fp16_uses_a_grad_scaler_and_still_learns() -> None:
    spec, data, model = _setup({"epochs": 15, "precision": "fp16", "optimizer": {"lr": 0.01}, "batch_size": 16})
    state = fit(model, data, spec.train, [], CPU)
    assert state.scaler.is_enabled() and state.scaler.get_scale() > 0
    assert state.history[-1]["val_accuracy"] > 0.8
