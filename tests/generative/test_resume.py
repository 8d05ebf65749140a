"""Generative runs resume exactly: SIGKILL at random steps and during a save, then the same end as a straight run.

The denoising autoencoder (input noise), the VAE (its sampled codes) and the GAN (two optimizers, its
noise) each draw from torch's generator every step, so an exact end shows the checkpoint carries it.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from lamina.files import load_tensors
from lamina.train.checkpoint import load_checkpoint, step_folders
from tests.train.test_kill import DRIVER, launch

GENERATIVE_DRIVER = DRIVER.replace("lamina.fit(", "from lamina.generative.run import train_generative\n"
                                                 "train_generative(")


def config(runs: Path, name: str, family: str) -> dict:
    """Three short epochs of 10 batches, a cosine schedule, checkpoints every 4 steps."""
    return {"name": name, "runs_dir": str(runs), "seed": 3, "data": {"dataset": "digits", "scale": "minmax"},
            "model": {"arch": "mlp", "hidden": [8]},
            "generative": {"model": family, "kind": "dense", "latent": 4, "width": 8, "judge_epochs": 1,
                           "samples": 40, "coverage_every": 100},
            "train": {"epochs": 3, "batch_size": 128, "tensorboard": False, "schedule": {"name": "cosine"},
                      "checkpoint": {"every_steps": 4}}}


def final_state(run: Path) -> tuple[dict, dict, dict, torch.Tensor, str]:
    """Weights, optimizer tensors and layout, the per-batch loss log and metrics.jsonl of a finished run."""
    newest = load_checkpoint(step_folders(run / "checkpoints")[0])
    return (load_tensors(run / "model.safetensors"), newest.optimizer, newest.meta.optimizer.model_dump(),
            newest.tensors["losses.done"], (run / "metrics.jsonl").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("family", ["denoising", "vae", "gan"])
def test_sigkill_and_resume_ends_as_a_straight_run(tmp_path: Path, family: str) -> None:
    assert launch(config(tmp_path, "straight", family), "none", 0, GENERATIVE_DRIVER, 600) == 0
    rng = random.Random(family)
    kills = []
    for mode, at in [("step", rng.randint(2, 9)), ("save", rng.randint(1, 5)), ("step", rng.randint(2, 9)),
                     ("none", 0)]:
        if launch(config(tmp_path, "killed", family), mode, at, GENERATIVE_DRIVER, 600) == 0:
            break
        kills.append((mode, at))
    print(f"{family}: SIGKILLed launches (mode, at): {kills}")
    assert len(kills) == 3 and (tmp_path / "killed" / "summary.json").is_file()

    straight, killed = final_state(tmp_path / "straight"), final_state(tmp_path / "killed")
    for mine, theirs in zip(straight[:2], killed[:2]):  # weights, optimizer tensors
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert straight[2] == killed[2]
    assert len(straight[3]) == 3 * 10 and torch.equal(straight[3], killed[3])
    assert straight[4] == killed[4]
    if family == "gan":
        lines = [(tmp_path / name / "losses.jsonl").read_text() for name in ("straight", "killed")]
        assert lines[0] == lines[1]
