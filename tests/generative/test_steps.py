"""The reconstruction and adversarial steps get what the loop gives every family, and generative runs honour train.*."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from lamina.config import DataSpec, TrainSpec
from lamina.data.prepare import Split, prepare_data
from lamina.errors import ConfigError
from lamina.generative.run import train_generative
from lamina.nn.models.autoencoder import AutoEncoder
from lamina.nn.models.gan import GAN
from lamina.train.alternating import Adversarial
from lamina.train.callbacks import Callback, EarlyStopping
from lamina.train.loop import TrainingDiverged, fit
from lamina.train.reconstruction import Reconstruction

CPU = torch.device("cpu")
FAMILIES = ["denoising", "vae", "gan"]


@pytest.fixture(scope="module")
def digits():
    """256 training and 64 validation digits in [0, 1]."""
    data = prepare_data(DataSpec(dataset="digits", scale="minmax"))
    cut = lambda s, n: Split(s.x[:n], s.y[:n], s.rows[:n])  # noqa: E731
    return replace(data, train=cut(data.train, 256), val=cut(data.val, 64))


def family(name: str) -> tuple[torch.nn.Module, object]:
    """A tiny dense model of the family and its step."""
    torch.manual_seed(0)
    if name == "gan":
        return GAN((1, 8, 8), "dense", 4, 8), Adversarial()
    step = Reconstruction(0.3 if name == "denoising" else 0.0)
    return AutoEncoder((1, 8, 8), "dense", 4, 8, variational=name == "vae"), step


def train(name: str, data, callbacks=(), **settings):
    model, step = family(name)
    spec = TrainSpec(**{"epochs": 2, "batch_size": 64, **settings})
    return model, fit(model, data, spec, list(callbacks), CPU, step=step)


class Dtypes(Callback):
    """Records the dtype of the first linear layer's outputs in training."""

    def __init__(self, model: torch.nn.Module) -> None:
        layer = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        self.seen: set[torch.dtype] = set()
        layer.register_forward_hook(lambda mod, args, out: self.seen.add(out.dtype) if mod.training else None)


@pytest.mark.parametrize("name", FAMILIES)
def test_bf16_autocast_runs_the_forward_in_bfloat16_and_the_loss_falls(digits, name: str) -> None:
    model, step = family(name)
    seen = Dtypes(model)
    state = fit(model, digits, TrainSpec(epochs=3, batch_size=32, precision="bf16"), [], CPU, step=step)
    assert seen.seen == {torch.bfloat16}
    if name != "gan":  # a GAN's losses are a game, not a descent
        assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]


@pytest.mark.parametrize("name", FAMILIES)
def test_accumulation_steps_the_optimizers_once_per_group(digits, name: str) -> None:
    model, state = train(name, digits, accumulate_steps=3)
    assert state.step == 2 * 2  # 4 batches an epoch: groups of 3 and 1
    steps = [int(s["step"]) for opt in state.optimizers.values() for s in opt.state.values()]
    assert steps and set(steps) == {4}


def test_accumulating_two_half_batches_is_one_full_batch_for_an_autoencoder(digits) -> None:
    first, _ = train("autoencoder", digits, batch_size=64, epochs=1)
    second, _ = train("autoencoder", digits, batch_size=32, accumulate_steps=2, epochs=1)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


class Poison(Callback):
    """Makes the third batch's inputs NaN."""

    def on_batch_start(self, state) -> None:
        if state.epoch == 0 and state.batch == 2:
            state.xb = torch.full_like(state.xb, float("nan"))


@pytest.mark.parametrize("name", FAMILIES)
def test_a_non_finite_loss_stops_at_that_step_naming_it(digits, name: str) -> None:
    with pytest.raises(TrainingDiverged, match=r"at step 3 \(epoch 1, batch 3 of 4\): the "
                       + ("discriminator loss" if name == "gan" else "loss") + " is nan"):
        train(name, digits, callbacks=[Poison()])


@pytest.mark.parametrize("name", FAMILIES)
def test_early_stopping_ends_the_run(digits, name: str) -> None:
    _, state = train(name, digits, epochs=10, callbacks=[EarlyStopping("train_loss", "min", 1, 1e9)])
    assert len(state.history) == 2 and state.stopped_early


class Watch(Callback):
    """Records the optimizer kind, whether a schedule runs, the precision context and the largest gradient norm."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_train_start(self, state) -> None:
        self.optimizer, self.schedule = type(state.optimizer).__name__, state.scheduler is not None
        self.autocast = type(state.autocast).__name__

    def on_batch_end(self, state) -> None:
        grads = [p.grad for p in state.model.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


def test_a_generative_run_honours_the_train_section(tmp_path) -> None:
    watch = Watch()
    out = train_generative({"name": "ae", "runs_dir": str(tmp_path), "data": {"dataset": "digits", "scale": "minmax"},
                            "model": {"arch": "mlp"},
                            "generative": {"model": "autoencoder", "kind": "dense", "latent": 4, "width": 8},
                            "train": {"epochs": 2, "optimizer": {"name": "momentum", "lr": 0.05},
                                      "schedule": {"name": "cosine"}, "clip_norm": 0.01, "precision": "bf16",
                                      "tensorboard": False}}, progress="none", extra_callbacks=[watch])
    assert (watch.optimizer, watch.schedule, watch.autocast) == ("SGD", True, "autocast")
    assert max(watch.norms) <= 0.01 * 1.001
    assert out["epochs_run"] == 2 and (tmp_path / "ae" / "checkpoints" / "best.json").is_file()


@pytest.mark.parametrize(("field", "value", "model"), [("loss", "mae", "vae"), ("restore_best", True, "gan"),
                                                       ("augment", [{"noise": 0.1}], "autoencoder")])
def test_a_train_field_a_family_cannot_use_is_refused_naming_both(tmp_path, field: str, value, model: str) -> None:
    config = {"name": "x", "runs_dir": str(tmp_path), "data": {"dataset": "digits", "scale": "minmax"},
              "model": {"arch": "mlp"}, "generative": {"model": model}, "train": {field: value}}
    with pytest.raises(ConfigError, match=rf"train\.{field} does not apply to a {model} run"):
        train_generative(config, progress="none")
    assert not (tmp_path / "x").exists()


def test_every_train_field_acts_or_is_refused_in_every_generative_family(tmp_path) -> None:
    from lamina.config import TrainSpec
    from lamina.generative.run import ACTING, REFUSED

    assert sorted(ACTING) + sorted(REFUSED) and set(ACTING) | set(REFUSED) == set(TrainSpec.model_fields)
    assert not set(ACTING) & set(REFUSED)
    values = {"loss": "mae", "label_smoothing": 0.1, "huber_delta": 2.0, "epoch_metrics": ["accuracy"],
              "adversarial": {"method": "fgsm", "eps": 0.1}, "lr_groups": [{"layers": "0", "lr": 0.1}],
              "selfsup": {"method": "simclr"}, "augment": [{"noise": 0.1}], "compile": True, "diagnose": False,
              "diagnose_every": 5, "class_weight": "balanced", "log": ["mlflow"]}
    for model in ("autoencoder", "denoising", "vae", "gan"):
        for field in REFUSED:
            config = {"name": "x", "runs_dir": str(tmp_path), "data": {"dataset": "digits", "scale": "minmax"},
                      "model": {"arch": "mlp"}, "generative": {"model": model}, "train": {field: values[field]}}
            with pytest.raises(ConfigError, match=rf"train\.{field} does not apply to a {model} run"):
                train_generative(config, progress="none")
