"""Exact resume in every training configuration: SIGKILL mid-epoch or at an epoch's end, resume, same bytes.

For each configuration a run trains uninterrupted; a forked copy of the same
run is SIGKILLed part-way (just after a mid-epoch checkpoint, or just after
an epoch's end was written) and then resumed. ``model.safetensors``,
``losses.jsonl`` and ``metrics.jsonl`` must be byte-equal to the
uninterrupted run's: every random stream (batch order, dropout, augmentation,
attack starts, the DataLoader's seeds) continues where it stopped.
"""

from __future__ import annotations

import os
import signal
import traceback
from pathlib import Path

import pytest
import torch

import lamina
from lamina.report.background import wait_for_reports
from lamina.train.callbacks import Callback

EPOCHS, BATCH = 3, 8  # iris: 14 batches an epoch

CASES = {
    "plain": {},
    "augment": {"train": {"augment": [{"noise": 0.1}, {"mixup": 0.4}]}},
    "fgsm": {"train": {"adversarial": {"method": "fgsm", "eps": 0.1}}},
    "pgd": {"train": {"adversarial": {"method": "pgd", "eps": 0.1, "steps": 2}}},
    "loader": {"data": {"batch_path": "loader"}},
    "accumulate": {"train": {"accumulate_steps": 3}},
    "bf16": {"train": {"precision": "bf16"}},
    "early_stopping": {"train": {"early_stopping": {"patience": 1, "min_delta": 0.02}}},
}
# Where the killed copy dies (epoch index, batches done in it): after a mid-epoch checkpoint
# (saved every 2 optimizer steps), or when the next epoch starts after an epoch's end was written.
KILLS = {"mid_epoch": ((1, 10), {"every_steps": 2}), "epoch_end": ((1, 0), {"epoch_seconds": 0})}


def config(runs: Path, name: str, case: str, checkpoint: dict) -> dict:
    """A tiny run with dropout, Adam and a cosine schedule, plus the case's settings."""
    cfg = {"name": name, "runs_dir": str(runs), "seed": 3, "data": {"dataset": "iris"},
           "model": {"arch": "mlp", "hidden": [8], "dropout": 0.1},
           "train": {"epochs": EPOCHS, "batch_size": BATCH, "tensorboard": False, "restore_best": False,
                     "optimizer": {"name": "adam", "lr": 0.02}, "schedule": {"name": "cosine"},
                     "checkpoint": checkpoint, "epoch_metrics": ["accuracy"]}}
    for section, values in CASES[case].items():
        cfg[section] = cfg[section] | values
    return cfg


class KillAt(Callback):
    """SIGKILL this process when batch ``batch`` of epoch ``epoch`` is about to start."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_batch_start(self, state) -> None:
        if (state.epoch, state.batch) == (self.epoch, self.batch):
            os.kill(os.getpid(), signal.SIGKILL)


def killed_run(cfg: dict, epoch: int, batch: int) -> None:
    """Train ``cfg`` in a forked child that SIGKILLs itself at (``epoch``, ``batch``)."""
    wait_for_reports()  # no drawing process or thread half-way through anything when forking
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            torch.set_num_threads(1)
            lamina.fit(cfg, progress="none", extra_callbacks=[KillAt(epoch, batch)])
            code = 3  # it should not have finished
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"child ended with status {status}"


def files(run: Path) -> tuple[bytes, bytes, bytes]:
    return tuple((run / name).read_bytes() for name in ("model.safetensors", "losses.jsonl", "metrics.jsonl"))


@pytest.mark.parametrize("case", list(CASES))
def test_sigkill_then_resume_is_byte_equal_to_an_uninterrupted_run(tmp_path: Path, case: str) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the forked children train on one thread: so does the reference
    try:
        lamina.fit(config(tmp_path, "straight", case, {}), progress="none")
        expected = files(tmp_path / "straight")
        assert len(expected[1].splitlines()) >= 2 * 14, "the reference run should train past the kill points"
        for kill, ((epoch, batch), checkpoint) in KILLS.items():
            cfg = config(tmp_path, kill, case, checkpoint)
            killed_run(cfg, epoch, batch)
            assert not (tmp_path / kill / "summary.json").exists()
            lamina.fit(cfg, progress="none", resume=True)
            assert files(tmp_path / kill) == expected, f"{case}: resume after a kill at {kill} is not exact"
    finally:
        torch.set_num_threads(threads)
        wait_for_reports()
