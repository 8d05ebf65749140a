"""SIGKILL at random steps and in the middle of saves; every resume ends where an uninterrupted run ends.

Each launch is a real training process (``lamina.fit(..., resume=True)``) that
is killed with SIGKILL, either after a random number of optimizer steps or
just before one of the file renames of a checkpoint save (so the save is left
half done: a temp file, or data files without their manifest). The next launch
resumes from the newest valid checkpoint. The final weights, optimizer state,
per-batch loss log and epoch metrics must equal (torch.equal, byte for byte)
those of a run that was never interrupted.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lamina.files import load_tensors
from lamina.train.checkpoint import load_checkpoint, step_folders

ROOT = Path(__file__).resolve().parents[2]

DRIVER = textwrap.dedent("""
    import json, os, signal, sys
    import lamina
    from lamina.train.callbacks import Callback

    config, mode, at = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    class KillAfterSteps(Callback):
        def on_train_start(self, state):
            self.target = state.step + at

        def on_batch_end(self, state):
            if state.step == self.target and state.at_update:
                die()

    callbacks = []
    if mode == "step":
        callbacks.append(KillAfterSteps())
    elif mode == "save":  # die just before the at-th rename into checkpoints/ (5 files a save, then best.json)
        real, seen = os.replace, [0]

        def replace(src, dst):
            if "checkpoints" in str(dst):
                seen[0] += 1
                if seen[0] == at:
                    die()
            return real(src, dst)

        os.replace = replace
    lamina.fit(config, progress="none", resume=True, extra_callbacks=callbacks)
""")


def config(runs: Path, name: str) -> dict:
    """Tiny and quick, with every kind of state: dropout (torch RNG), Adam, a cosine schedule, early stopping."""
    return {"name": name, "runs_dir": str(runs), "seed": 1, "data": {"dataset": "iris"},
            "model": {"arch": "mlp", "hidden": [8], "dropout": 0.1},
            "train": {"epochs": 6, "batch_size": 8, "tensorboard": False, "restore_best": False,
                      "optimizer": {"name": "adam", "lr": 0.02}, "schedule": {"name": "cosine"},
                      "early_stopping": {"patience": 100}, "checkpoint": {"every_steps": 4},
                      "epoch_metrics": ["accuracy"]}}


def launch(cfg: dict, mode: str, at: int, driver: str = DRIVER, timeout: float = 120) -> int:
    done = subprocess.run([sys.executable, "-c", driver, json.dumps(cfg), mode, str(at)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr[-3000:]
    return done.returncode


def final_state(run: Path) -> tuple[dict, dict, dict, torch.Tensor, str]:
    newest = load_checkpoint(step_folders(run / "checkpoints")[0])
    losses = torch.tensor([json.loads(line)["loss"] for line in (run / "losses.jsonl").read_text().splitlines()])
    return (load_tensors(run / "model.safetensors"), newest.optimizer, newest.meta.optimizer.model_dump(), losses,
            (run / "metrics.jsonl").read_text())


@pytest.mark.slow
def test_sigkill_at_random_steps_and_during_saves_resumes_exactly(tmp_path: Path) -> None:
    assert launch(config(tmp_path, "straight"), "none", 0) == 0
    rng = random.Random(7)
    plan = [("step", rng.randint(2, 12)) if i % 2 == 0 else ("save", rng.randint(1, 10)) for i in range(7)]
    kills = []
    for mode, at in plan + [("none", 0)]:
        if launch(config(tmp_path, "killed"), mode, at) == 0:
            break
        kills.append((mode, at))
    print(f"SIGKILLed launches (mode, at): {kills}")
    assert len(kills) >= 5 and sum(mode == "save" for mode, _ in kills) >= 2, kills
    assert (tmp_path / "killed" / "summary.json").is_file()

    weights, optim, layout, losses, metrics = final_state(tmp_path / "straight")
    weights2, optim2, layout2, losses2, metrics2 = final_state(tmp_path / "killed")
    assert weights.keys() == weights2.keys() and all(torch.equal(weights[k], weights2[k]) for k in weights)
    assert optim.keys() == optim2.keys() and all(torch.equal(optim[k], optim2[k]) for k in optim)
    assert layout == layout2
    assert len(losses) == 6 * 14 and torch.equal(losses, losses2)
    assert metrics == metrics2
