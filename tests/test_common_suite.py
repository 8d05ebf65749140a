"""The common suite of the small registries: every registered loss, metric, initializer, detector and
augmentation step keeps the contract its kind promises, so one registered later is checked the day it lands.

(The presets and model families have their own common suites: tests/nn/test_presets.py and
tests/nn/models/test_families.py.)
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lamina.config import TrainSpec
from lamina.data.augment import STEPS, parse_step
from lamina.diagnose.detectors import DETECTORS
from lamina.evaluate.metrics import compute_metrics, outputs_to_preds
from lamina.registry import INITIALIZERS, LOSSES, METRICS
from lamina.train.losses import AUTO, FITS

CLASSES = 3


def task_example(task: str, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random model outputs for ``task`` and a target they can be trained towards."""
    if task == "multiclass":
        return torch.randn(16, CLASSES, generator=generator), torch.arange(16) % CLASSES
    if task == "binary":
        return torch.randn(16, generator=generator), (torch.arange(16) % 2).float()
    if task == "regression":
        return torch.randn(16, 2, generator=generator), torch.randn(16, 2, generator=generator) * 3
    if task == "seq2seq":  # (B, T, V) logits against token ids, id 0 being padding
        target = 1 + torch.randint(0, 6, (4, 5), generator=generator)
        target[0, -2:] = 0
        return torch.randn(4, 5, 7, generator=generator), target
    raise AssertionError(f"no example for the task {task!r}: add one here")


def test_every_task_has_an_automatic_loss_that_fits_it() -> None:
    assert set(LOSSES.names()) == set(FITS)
    for task, name in AUTO.items():
        assert task in FITS[name]


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_is_a_finite_scalar_that_falls_when_its_input_is_trained(name: str) -> None:
    loss_fn, spec = LOSSES.get(name), TrainSpec()
    for task in FITS[name]:
        outputs, target = task_example(task, torch.Generator().manual_seed(0))
        outputs.requires_grad_(True)
        optimizer = torch.optim.Adam([outputs], lr=0.1)
        first = loss_fn(outputs, target, spec)
        assert first.dim() == 0 and math.isfinite(first.item()) and first.item() >= 0
        for _ in range(100):
            optimizer.zero_grad()
            loss = loss_fn(outputs, target, spec)
            loss.backward()
            assert torch.isfinite(outputs.grad).all()
            optimizer.step()
        assert loss_fn(outputs, target, spec).item() < 0.5 * first.item(), (name, task)


def perfect_and_poor(task: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Metric inputs (as ``outputs_to_preds`` makes them): a target, perfect predictions and poor ones."""
    if task == "multiclass":
        target = torch.arange(30) % CLASSES
        perfect = outputs_to_preds(nn.functional.one_hot(target, CLASSES).float() * 5, task)
        poor = outputs_to_preds(nn.functional.one_hot((target + 1) % CLASSES, CLASSES).float() * 5, task)
        return target, perfect, poor
    if task == "binary":
        target = torch.arange(30) % 2
        return target, outputs_to_preds(target.float() * 10 - 5, task), outputs_to_preds(5 - target.float() * 10, task)
    if task == "regression":
        target = torch.linspace(-3, 3, 30).reshape(-1, 1)
        return target, target.clone(), -target
    if task == "seq2seq":
        target = 1 + torch.arange(40).reshape(8, 5) % 6
        return target, target.clone(), 1 + target % 6
    raise AssertionError(f"no metric example for the task {task!r}: add one here")


def worse(value: object, than: object, higher_is_better: bool) -> bool:
    """Whether ``value`` is strictly worse than ``than`` (a confusion matrix: fewer counts on the diagonal)."""
    if isinstance(value, list):
        return sum(value[i][i] for i in range(len(value))) < sum(than[i][i] for i in range(len(than)))
    return value < than if higher_is_better else value > than


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_scores_perfect_predictions_best_and_poor_ones_worse(name: str) -> None:
    metric = METRICS.get(name)
    assert metric.doc, f"metric {name} has no one-line description for lamina info"
    for task in metric.tasks:
        classes = 7 if task == "seq2seq" else CLASSES if task == "multiclass" else 2
        target, perfect, poor = perfect_and_poor(task)
        best = compute_metrics([name], task, perfect, target, classes)[name]
        bad = compute_metrics([name], task, poor, target, classes)[name]
        if isinstance(best, list):
            assert sum(map(sum, best)) == len(target) and sum(best[i][i] for i in range(len(best))) == len(target)
        else:
            assert best == pytest.approx(1.0 if metric.higher_is_better else 0.0, abs=1e-6), (name, task)
        assert worse(bad, best, metric.higher_is_better), (name, task, bad, best)


def small_net() -> nn.Module:
    """A net holding each layer kind the initializers touch (dense, conv 1-D and 2-D), with non-zero biases."""
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.ReLU(),
                        nn.Linear(8, 2))
    net.add_module("conv1d", nn.Conv1d(2, 2, 1))
    return net


@pytest.mark.parametrize("name", INITIALIZERS.names())
def test_initializer_is_seeded_finite_and_trainable(name: str) -> None:
    init = INITIALIZERS.get(name)
    nets = []
    for _ in range(2):
        torch.manual_seed(1)
        net = small_net()
        init(net)
        nets.append(net)
    for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values()):
        assert torch.equal(a, b), "the same seed must give the same weights"
    weights = [p for n, p in nets[0].named_parameters() if n.endswith("weight")]
    assert all(torch.isfinite(w).all() and w.std() > 0 for w in weights)
    x, y = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(2)), torch.arange(64) % 2
    x[y == 1] += 0.5
    net = nn.Sequential(*list(nets[0].children())[:-1])  # the conv1d is only there to be initialized
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = nn.functional.cross_entropy(net(x), y).item()
    for _ in range(30):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.7 * first, name


@pytest.mark.parametrize("name", DETECTORS.names())
def test_detector_is_silent_without_evidence(name: str) -> None:
    detect = DETECTORS.get(name)
    assert detect.__doc__, f"detector {name} has no description"
    assert detect({}, []) is None
    assert detect({"layers": [], "samples": []}, [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0}]) is None


def augmentation_input(needs: str) -> torch.Tensor:
    """A batch of the kind an augmentation step needs."""
    generator = torch.Generator().manual_seed(3)
    if needs == "tokens":
        return torch.randint(1, 20, (8, 12), generator=generator)
    if needs == "image":
        return torch.rand(8, 1, 10, 10, generator=generator)
    return torch.rand(8, 6, generator=generator)


def augmented(name: str, x: torch.Tensor, seed: int) -> torch.Tensor:
    """The augmentation ``name`` (default arguments) of a copy of ``x``, drawn from a generator seeded ``seed``."""
    kind = STEPS[name]
    out = kind.apply(x.clone(), parse_step(name, "train.augment[0]").args, torch.Generator().manual_seed(seed))
    return out[0] if isinstance(out, tuple) else out  # mixing steps also say how they blended the batch


@pytest.mark.parametrize("name", sorted(STEPS))
def test_augmentation_keeps_shape_and_dtype_and_repeats_with_its_seed(name: str) -> None:
    assert STEPS[name].doc, f"augmentation {name} has no description"
    x = augmentation_input(STEPS[name].needs)
    once, again = augmented(name, x, 4), augmented(name, x, 4)
    assert once.shape == x.shape and once.dtype == x.dtype
    assert torch.equal(once, again), "the same generator state must give the same augmentation"
    assert not x.is_floating_point() or torch.isfinite(once).all()
    assert any(not torch.equal(augmented(name, x, seed), x) for seed in range(5)), \
        f"augmentation {name} never changed its input in 5 draws"
