"""The char LM resumes exactly: SIGKILL at random steps and during a save, then the same end as a straight run.

Dropout (torch's generator) and the random windows (the batch source's own generator) both draw
every step, so an exact end shows the checkpoint carries both and the resumed epoch re-winds its draw.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from lamina.files import load_tensors
from lamina.train.checkpoint import load_checkpoint, step_folders
from tests.conftest import shakespeare_slice
from tests.train.test_kill import DRIVER, launch

LM_DRIVER = DRIVER.replace("lamina.fit(", "from lamina.lm.train import train_lm\ntrain_lm(")


def config(text: Path, runs: Path, name: str) -> dict:
    """Three epochs of 10 steps of a tiny GPT with dropout, a cosine schedule, checkpoints every 4 steps."""
    return {"task": "language_model", "name": name, "runs_dir": str(runs), "seed": 5,
            "data": {"path": str(text)}, "model": {"layers": 1, "heads": 2, "width": 16, "context": 8, "dropout": 0.1},
            "train": {"steps": 30, "eval_every": 10, "eval_batches": 1, "batch_size": 8, "threads": 1,
                      "checkpoint": {"every_steps": 4}}}


def final_state(run: Path) -> tuple[dict, dict, dict, torch.Tensor, str]:
    """Weights, optimizer tensors and layout, the per-batch loss log and metrics.jsonl of a finished run."""
    newest = load_checkpoint(step_folders(run / "checkpoints")[0])
    return (load_tensors(run / "model.safetensors"), newest.optimizer, newest.meta.optimizer.model_dump(),
            newest.tensors["losses.done"], (run / "metrics.jsonl").read_text())


@pytest.mark.slow
def test_sigkill_and_resume_ends_as_a_straight_run(tmp_path: Path) -> None:
    text = shakespeare_slice(tmp_path, 20_000)
    assert launch(config(text, tmp_path, "straight"), "none", 0, LM_DRIVER, 600) == 0
    rng = random.Random(13)
    kills = []
    for mode, at in [("step", rng.randint(2, 9)), ("save", rng.randint(1, 5)), ("step", rng.randint(2, 9)),
                     ("none", 0)]:
        if launch(config(text, tmp_path, "killed"), mode, at, LM_DRIVER, 600) == 0:
            break
        kills.append((mode, at))
    print(f"SIGKILLed launches (mode, at): {kills}")
    assert len(kills) == 3 and (tmp_path / "killed" / "summary.json").is_file()

    straight, killed = final_state(tmp_path / "straight"), final_state(tmp_path / "killed")
    for mine, theirs in zip(straight[:2], killed[:2]):  # weights, optimizer tensors
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert straight[2] == killed[2]
    assert len(straight[3]) == 3 * 10 and torch.equal(straight[3], killed[3])
    assert straight[4] == killed[4] and straight[4].count("\n") == 3
