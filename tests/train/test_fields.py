"""Every train field, in every model family, either acts or is refused naming the field and the family.

Refusals come first and are instant (before any data is read or a run folder made). For the
fields that act, one short run per family sets all of them at once and a probe callback stops
it at the end of the first epoch, where each field has a cheap observable in the loop's state:
the optimizer's kind, the learning rate after a step schedule's first drop, the penalized
weights, gradients within the clip limits, the batch source's batch size, the callbacks the
family added, the autocast context, the thread count. ``train.compile`` is probed apart, at the
start of training, so nothing is compiled.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import lamina
from lamina.config import TrainSpec, parse_run_spec
from lamina.errors import ConfigError
from lamina.generative import run as generative
from lamina.lm import train as lm
from lamina.segment import train as segment
from lamina.segment.folder import parse_segmentation_run, train_segmentation_folder
from lamina.train.callbacks import Callback, EarlyStopping, TensorBoardLog
from lamina.train.checkpoint import Checkpoints
from lamina.transfer import selfsup
from lamina.trainer import SUPERVISED_REFUSED
from tests.conftest import shakespeare_slice
from tests.segment.test_folder import write_shapes

GENERATIVE = ("autoencoder", "denoising", "vae", "gan")
FAMILIES = ("supervised", *GENERATIVE, "language_model", "unet", "simclr", "denoise")
REFUSING_VALUES = {"epochs": 2, "loss": "mae", "label_smoothing": 0.1, "huber_delta": 2.0, "epoch_metrics": ["accuracy"],
                   "class_weight": "balanced", "log": ["mlflow"], "adversarial": {"method": "fgsm", "eps": 0.1},
                   "lr_groups": [{"layers": "0", "lr": 0.1}], "selfsup": {"method": "simclr"},
                   "augment": [{"noise": 0.1}], "restore_best": True, "compile": True, "diagnose": False,
                   "diagnose_every": 5}


def refused(family: str) -> dict[str, str]:
    """The train fields ``family`` refuses when a config sets them (to the values of REFUSING_VALUES)."""
    if family == "supervised":
        return SUPERVISED_REFUSED
    if family in GENERATIVE:
        extra = {"restore_best": "no loss tells a better generator"} if family == "gan" else {}
        return generative.REFUSED | extra | ({} if family in generative.DIAGNOSED else generative.NOT_DIAGNOSED)
    if family == "language_model":
        return lm.REFUSED
    if family == "unet":
        return segment.REFUSED
    return selfsup.REFUSED | ({"augment": ""} if family == "denoise" else {})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A text for the language model and 16 shapes images (8 x 8) with masks for the U-Net."""
    root = tmp_path_factory.mktemp("fields")
    shakespeare_slice(root, 20_000)
    write_shapes(root, 16, size=8, seed=1)
    return root


def run(family: str, root: Path, runs: Path, train: dict, callbacks: list[Callback]) -> None:
    """Start a tiny run of ``family`` with this train section (the probe usually stops it early)."""
    base = {"name": "f", "runs_dir": str(runs), "seed": 0}
    if family == "supervised":
        lamina.fit({**base, "data": {"dataset": "wine"}, "model": {"arch": "mlp", "hidden": [4]}, "train": train},
                   progress="none", extra_callbacks=callbacks)
    elif family in GENERATIVE:
        generative.train_generative({**base, "data": {"dataset": "digits", "scale": "minmax"}, "model": {"arch": "mlp"},
                                     "generative": {"model": family, "kind": "dense", "latent": 2, "width": 4,
                                                    "judge_epochs": 1, "samples": 20},
                                     "train": train}, progress="none", extra_callbacks=callbacks)
    elif family == "language_model":
        lm.train_lm({**base, "task": "language_model", "data": {"path": str(root / "shakespeare.txt")},
                     "model": {"layers": 1, "heads": 1, "width": 8, "context": 8},
                     "train": {"steps": 8, "eval_every": 4, "eval_batches": 1, **train}},
                    progress="none", extra_callbacks=callbacks)
    elif family == "unet":
        spec = parse_segmentation_run({**base, "data": {"path": str(root / "images"), "masks": str(root / "masks"),
                                                        "image": {"cache": str(root / "cache")},
                                                        "split": {"val": 0.25, "test": 0.25}},
                                       "model": {"arch": "unet", "width": 2}, "train": train})
        train_segmentation_folder(spec, "none", extra_callbacks=callbacks)
    else:
        selfsup.pretrain(parse_run_spec({**base, "data": {"dataset": "iris"}, "model": {"arch": "mlp", "hidden": [4]},
                                         "train": {"selfsup": {"method": family}, **train}}),
                         progress="none", extra_callbacks=callbacks)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_field_a_family_cannot_use_is_refused_naming_both_before_anything_runs(files, tmp_path, family) -> None:
    fields = refused(family)
    assert set(fields) <= set(TrainSpec.model_fields)
    for field in fields:
        with pytest.raises(ConfigError, match=rf"train\.{field} does not apply to a {family} run \("):
            run(family, files, tmp_path / "runs", {field: REFUSING_VALUES[field]}, [])
    assert not (tmp_path / "runs").exists()  # refused before a run folder was made


class Probed(Exception):
    """Stops a probed run."""


class Probe(Callback):
    """Keeps the loop's state and stops training at the end of the first epoch (or at its start)."""

    def __init__(self, at: str = "on_epoch_end") -> None:
        self.at, self.state, self.threads = at, None, 0

    def on_train_start(self, state) -> None:
        self.stop(state, "on_train_start")

    def on_epoch_end(self, state) -> None:
        self.stop(state, "on_epoch_end")

    def stop(self, state, event: str) -> None:
        if event == self.at:
            self.state, self.threads = state, torch.get_num_threads()
            raise Probed


MONITORS = {"supervised": ("val_loss", "train_loss"), "language_model": ("val_loss", "train_loss"),
            "unet": ("val_mean_iou", "val_pixel_accuracy"), "gan": ("train_loss", "d_loss")}


def acting_values(family: str) -> dict:
    """A non-default value for every field ``family`` uses."""
    early, monitor = MONITORS.get(family, ("train_loss", "train_loss") if family in ("simclr", "denoise")
                                  else ("val_loss", "train_loss"))
    values = {"epochs": 3, "batch_size": 4 if family in ("language_model", "unet") else 64, "accumulate_steps": 2,
              "optimizer": {"name": "momentum", "lr": 0.01}, "schedule": {"name": "step", "step_epochs": 1, "gamma": 0.5},
              "l1": 1e-5, "l2": 1e-5, "clip_norm": 0.05, "clip_value": 0.004,
              "early_stopping": {"monitor": early, "patience": 7}, "monitor": monitor,
              "restore_best": family == "language_model", "device": "cpu", "precision": "bf16", "threads": 2,
              "tensorboard": True, "checkpoint": {"every_steps": 3}, "diagnose": True, "diagnose_every": 3}
    if family == "supervised":
        values |= {"loss": "cross_entropy", "label_smoothing": 0.1, "class_weight": "balanced", "log": ["tensorboard"],
                   "epoch_metrics": ["accuracy", "f1"], "adversarial": {"method": "fgsm", "eps": 0.05},
                   "lr_groups": [{"layers": "0", "lr": 0.02}], "augment": [{"noise": 0.05}]}
    if family in ("simclr", "denoise"):
        values["augment"] = [{"noise": 0.2}] if family == "simclr" else []
    return {k: v for k, v in values.items() if k not in refused(family) and k != "compile" and (v != [] or k != "augment")}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_every_field_a_family_uses_acts(files, tmp_path, family) -> None:
    threads = torch.get_num_threads()
    values = acting_values(family)
    probe = Probe()
    try:
        with pytest.raises(Probed):
            run(family, files, tmp_path / "runs", values, [probe])
        compiled = Probe("on_train_start")
        if "compile" not in refused(family):
            with pytest.raises(Probed):
                run(family, files, tmp_path / "compiled", {"compile": True}, [compiled])
    finally:
        torch.set_num_threads(threads)
    s = probe.state
    covered = set(values) | set(refused(family)) | {"compile"} | ({"selfsup"} if family in ("simclr", "denoise") else set())
    if family == "supervised":
        covered.add("huber_delta")  # acts with train.loss: huber, refused with another loss (the test below)
    assert covered == set(TrainSpec.model_fields), sorted(set(TrainSpec.model_fields) - covered)
    if "compile" not in refused(family):  # train.compile: the forward goes through torch.compile
        assert compiled.state.net is not compiled.state.model

    assert s.epochs == (2 if family == "language_model" else 3)  # the LM counts epochs of eval_every steps
    assert s.batches.batch_size == values["batch_size"]
    assert s.step == -(-len(s.batches) // 2)  # accumulate_steps: one optimizer step per 2 batches
    assert {type(o).__name__ for o in s.optimizers.values()} == {"SGD"}
    for opt in s.optimizers.values():  # the step schedule halved every rate after the first epoch
        assert all(g["lr"] == pytest.approx(g["initial_lr"] * 0.5) for g in opt.param_groups)
    assert all(s.penalized.values())  # l1, l2: the weights are penalized
    for params in s.params.values():  # clip_value, then clip_norm, on the last update's gradients
        grads = [p.grad for p in params if p.grad is not None]
        assert max(float(g.abs().max()) for g in grads) <= 0.004 * 1.0001
        assert float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))) <= 0.05 * 1.0001
    stopping = [c for c in s.callbacks if isinstance(c, EarlyStopping)]
    assert [(c.monitor, c.patience) for c in stopping] == [(values["early_stopping"]["monitor"], 7)]
    checkpoints = next(c for c in s.callbacks if isinstance(c, Checkpoints))
    assert checkpoints.monitor == values["monitor"] and checkpoints.spec.every_steps == 3
    assert s.device.type == "cpu" and probe.threads == 2
    assert isinstance(s.autocast, torch.autocast) and s.autocast.fast_dtype == torch.bfloat16
    assert any(isinstance(c, TensorBoardLog) for c in s.callbacks)
    assert s.spec.restore_best == values.get("restore_best", s.spec.restore_best)  # read by the family after fit
    if "diagnose" not in refused(family):  # diagnose, diagnose_every: the monitor watches every 3rd step
        assert [c.every for c in s.callbacks if type(c).__name__ == "Monitor"] == [3]

    if family == "supervised":
        names = {type(c).__name__ for c in s.callbacks}
        assert {"AdversarialTraining", "Augmentation"} <= names
        assert len(s.optimizer.param_groups) == 2  # lr_groups
        assert {"val_accuracy", "val_f1"} <= set(s.logs)  # epoch_metrics
        counts = torch.bincount(s.data.train.y, minlength=3).float()
        weight = counts.sum() / (3 * counts)  # class_weight: balanced (wine's classes are not)
        logits, target = torch.tensor([[3.0, 0.0, 0.0], [3.0, 0.0, 0.0]]), torch.tensor([0, 1])
        expected = F.cross_entropy(logits, target, weight=weight, label_smoothing=0.1)  # loss, label_smoothing
        assert float(s.loss_fn(logits, target)) == pytest.approx(float(expected), rel=1e-5)
        assert not torch.allclose(weight, torch.ones(3))
        assert float(expected) != pytest.approx(float(F.cross_entropy(logits, target, weight=weight)))


def test_huber_delta_acts_with_the_huber_loss_and_is_refused_with_another(tmp_path) -> None:
    probe = Probe("on_train_start")
    config = {"name": "h", "runs_dir": str(tmp_path), "data": {"dataset": "diabetes"},
              "model": {"arch": "mlp", "hidden": [4]}, "train": {"loss": "huber", "huber_delta": 0.5}}
    with pytest.raises(Probed):
        lamina.fit(config, progress="none", extra_callbacks=[probe])
    assert float(probe.state.loss_fn(torch.zeros(1, 1), torch.full((1, 1), 2.0))) == pytest.approx(0.5 * (2 - 0.25))
    config["train"] = {"huber_delta": 0.5}
    with pytest.raises(ConfigError, match="train.huber_delta applies to the huber loss only; this run's loss is 'mse'"):
        lamina.fit(config, progress="none")


def test_pretraining_uses_its_method_and_augment_steps() -> None:
    from lamina.config import SelfSupSpec
    from torch import nn

    encoder = nn.Sequential(nn.Linear(4, 3))
    x = torch.randn(8, 4)
    _, contrastive = selfsup.pretraining(encoder, x, SelfSupSpec(method="simclr"), [{"noise": 0.2}, {"mixup": 0.9}])
    _, masked = selfsup.pretraining(encoder, x, SelfSupSpec(method="denoise", mask=0.3), [])
    assert type(contrastive).__name__ == "Contrastive" and len(contrastive.steps) == 2
    assert type(masked).__name__ == "Masked" and masked.mask == 0.3
