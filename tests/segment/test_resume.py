"""The U-Net resumes exactly: SIGKILL at random steps and during a save, then the same end as a straight run."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from lamina.files import load_tensors
from lamina.train.checkpoint import load_checkpoint, step_folders
from tests.segment.test_folder import write_shapes
from tests.train.test_kill import DRIVER, launch

SEGMENT_DRIVER = DRIVER.replace("lamina.fit(config", "from lamina.segment.folder import parse_segmentation_run, "
                                "train_segmentation_folder\ntrain_segmentation_folder(parse_segmentation_run(config)")


def config(root: Path, name: str) -> dict:
    """Three epochs of 10 batches of 3 images (16 x 16), a cosine schedule, checkpoints every 4 steps."""
    return {"name": name, "runs_dir": str(root / "runs"), "seed": 4,
            "data": {"path": str(root / "images"), "masks": str(root / "masks"),
                     "image": {"cache": str(root / "cache")}, "split": {"val": 0.25, "test": 0.25}},
            "model": {"arch": "unet", "width": 4},
            "train": {"epochs": 3, "batch_size": 3, "tensorboard": False, "schedule": {"name": "cosine"},
                      "checkpoint": {"every_steps": 4}}}


def final_state(run: Path) -> tuple[dict, dict, dict, torch.Tensor, str]:
    """Weights, optimizer tensors and layout, the per-batch loss log and metrics.jsonl of a finished run."""
    newest = load_checkpoint(step_folders(run / "checkpoints")[0])
    return (load_tensors(run / "model.safetensors"), newest.optimizer, newest.meta.optimizer.model_dump(),
            newest.tensors["losses.done"], (run / "metrics.jsonl").read_text())


@pytest.mark.slow
def test_sigkill_and_resume_ends_as_a_straight_run(tmp_path: Path) -> None:
    write_shapes(tmp_path, 60, size=16, seed=2)
    assert launch(config(tmp_path, "straight"), "none", 0, SEGMENT_DRIVER, 600) == 0
    rng = random.Random(17)
    kills = []
    for mode, at in [("step", rng.randint(2, 9)), ("save", rng.randint(1, 5)), ("step", rng.randint(2, 9)),
                     ("none", 0)]:
        if launch(config(tmp_path, "killed"), mode, at, SEGMENT_DRIVER, 600) == 0:
            break
        kills.append((mode, at))
    print(f"SIGKILLed launches (mode, at): {kills}")
    assert len(kills) == 3 and (tmp_path / "runs" / "killed" / "summary.json").is_file()

    straight, killed = final_state(tmp_path / "runs" / "straight"), final_state(tmp_path / "runs" / "killed")
    for mine, theirs in zip(straight[:2], killed[:2]):  # weights, optimizer tensors
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert straight[2] == killed[2]
    assert len(straight[3]) == 3 * 10 and torch.equal(straight[3], killed[3])
    assert straight[4] == killed[4] and straight[4].count("\n") == 3
