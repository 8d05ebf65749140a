"""SimCLR pretraining resumes exactly: SIGKILL at random steps and during a save, then the end of a straight run."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from lamina.files import load_tensors
from lamina.train.checkpoint import load_checkpoint, step_folders
from tests.train.test_kill import DRIVER, launch

PRETRAIN_DRIVER = DRIVER.replace("lamina.fit(config", "from lamina.config import parse_run_spec\n"
                                 "from lamina.transfer.selfsup import pretrain\n"
                                 "pretrain(parse_run_spec(config)")


def config(runs: Path, name: str) -> dict:
    """Three epochs of 10 batches of digits, two augmented views each, checkpoints every 4 steps."""
    return {"name": name, "runs_dir": str(runs), "seed": 2, "data": {"dataset": "digits"},
            "model": {"arch": "mlp", "hidden": [16]},
            "train": {"epochs": 3, "batch_size": 160, "tensorboard": False, "selfsup": {"method": "simclr"},
                      "schedule": {"name": "cosine"}, "checkpoint": {"every_steps": 4}}}


@pytest.mark.slow
def test_sigkill_and_resume_ends_as_a_straight_run(tmp_path: Path) -> None:
    assert launch(config(tmp_path, "straight"), "none", 0, PRETRAIN_DRIVER, 600) == 0
    rng = random.Random(11)
    kills = []
    for mode, at in [("step", rng.randint(2, 9)), ("save", rng.randint(1, 5)), ("step", rng.randint(2, 9)),
                     ("none", 0)]:
        if launch(config(tmp_path, "killed"), mode, at, PRETRAIN_DRIVER, 600) == 0:
            break
        kills.append((mode, at))
    print(f"SIGKILLed launches (mode, at): {kills}")
    assert len(kills) == 3 and (tmp_path / "killed" / "pretrain.json").is_file()

    ends = []
    for name in ("straight", "killed"):
        newest = load_checkpoint(step_folders(tmp_path / name / "checkpoints")[0])
        ends.append((load_tensors(tmp_path / name / "model.safetensors"), newest.optimizer,
                     newest.meta.optimizer.model_dump(), newest.tensors["losses.done"],
                     (tmp_path / name / "metrics.jsonl").read_text()))
    (weights, optim, layout, losses, metrics), (weights2, optim2, layout2, losses2, metrics2) = ends
    assert weights.keys() == weights2.keys() and all(torch.equal(weights[k], weights2[k]) for k in weights)
    assert optim.keys() == optim2.keys() and all(torch.equal(optim[k], optim2[k]) for k in optim)
    assert layout == layout2 and metrics == metrics2
    assert len(losses) == 3 * 10 and torch.equal(losses, losses2)
