"""Attacks: FGSM's step checked by hand, PGD's projection and valid range, and the must-show outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import lamina
from lamina.data.prepare import prepare_data
from lamina.robust.attacks import fgsm, pgd
from lamina.robust.bounds import valid_range
from lamina.robust.sweep import AttackSettings, attack_run


def test_fgsm_is_eps_times_gradient_sign_on_a_hand_checked_case() -> None:
    model = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [-1.0, 1.0, 2.0]]))
    x = torch.tensor([[0.5, 0.5, 0.5]])
    y = torch.tensor([0])
    # logits (0.25, 1.0): softmax p = (0.3208, 0.6792); d CE / dx = W^T (p - onehot(0)) = (-1.358, 2.038, 0.849) * 0.6792-ish
    p = torch.softmax(model(x), dim=1)
    grad = (p - torch.tensor([[1.0, 0.0]])) @ model.weight
    assert torch.equal(grad.sign(), torch.tensor([[-1.0, 1.0, 1.0]]))
    adv = fgsm(model, x, y, 0.1)
    assert torch.allclose(adv - x, torch.tensor([[-0.1, 0.1, 0.1]]))


def test_pgd_stays_in_ball_and_valid_range() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.rand(16, 4)
    y = torch.randint(0, 3, (16,))
    adv = pgd(model, x, y, 0.3, steps=5, bounds=(0.0, 1.0))
    assert (adv - x).abs().max() <= 0.3 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    adv2 = pgd(model, x, y, 0.5, steps=5, norm="l2", bounds=(0.0, 1.0))
    assert (adv2 - x).norm(dim=1).max() <= 0.5 + 1e-5 and adv2.min() >= 0 and adv2.max() <= 1


def test_valid_range_comes_from_preprocessing() -> None:
    spec = lamina.parse_run_spec({"data": {"dataset": "digits", "view": "image"}, "model": {"arch": "cnn"}})
    data = prepare_data(spec.data)
    low, high = valid_range(data.preprocessor, "auto", None)
    assert low.shape == (1, 8, 8) and float(low.min()) == 0.0 and float(high.max()) == 1.0


def _spec(tmp_path: Path, name: str, adversarial=None) -> dict:
    train = {"epochs": 20 if adversarial is None else 40, "batch_size": 64, "optimizer": {"lr": 0.003},
             "tensorboard": False, "restore_best": adversarial is None}
    if adversarial:
        train["adversarial"] = adversarial
        train["schedule"] = {"name": "cosine"}
    return {"name": name, "runs_dir": str(tmp_path), "data": {"dataset": "digits", "view": "image"},
            "model": {"arch": "cnn", "channels": [32, 64], "dense": [128], "convs_per_stage": 2}, "train": train}


@pytest.fixture(scope="module")
def standard_run(tmp_path_factory):
    torch.manual_seed(0)
    return lamina.fit(_spec(tmp_path_factory.mktemp("std"), "std"), progress="none")


@pytest.mark.slow
def test_pgd_breaks_a_standard_cnn_and_writes_report(standard_run) -> None:
    report = attack_run(standard_run, AttackSettings(method="pgd", eps=[0.2], steps=20))
    assert report["clean_accuracy"] > 0.95
    assert report["results"][0]["accuracy"] < 0.10
    assert Path(report["figure"]).is_file() and Path(report["report"]).is_file()


@pytest.mark.slow
def test_pgd_adversarial_training_keeps_robust_accuracy(tmp_path: Path) -> None:
    torch.manual_seed(0)
    run = lamina.fit(_spec(tmp_path, "adv", {"method": "pgd", "eps": 0.2, "steps": 7, "ramp_epochs": 5}),
                     progress="none")
    report = attack_run(run, AttackSettings(method="pgd", eps=[0.2], steps=20, examples=0))
    assert report["clean_accuracy"] >= 0.90
    assert report["results"][0]["accuracy"] >= 0.60
