"""Exact resume of a task sequence: SIGKILL in the second task (mid-epoch, at an epoch's end, before its
first batch), resume, and the final weights and logs are the bytes of an uninterrupted run, for EWC, replay, LwF.

The same harness as tests/train/test_resume_exact.py: a forked copy of the run kills itself at a chosen
batch; ``run_continual(..., resume=True)`` or ``lamina resume RUN`` continues it. The Fisher information, anchor weights, replay
buffer, their generators, the accuracy rows of the finished task and every loop RNG must come back.
"""

from __future__ import annotations

import json
import os
import signal
import traceback
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import lamina
from lamina.cli import app
from lamina.continual.sequence import run_continual
from lamina.errors import ConfigError, RunFolderError
from lamina.report.background import wait_for_reports
from lamina.train.callbacks import Callback

STRATEGIES = {"ewc": {"ewc_lambda": 100.0, "fisher_samples": 20},
              "replay": {"buffer_size": 16, "replay_batch": 4},
              "lwf": {"lwf_alpha": 1.0}}  # its teacher: the model as the task began, not as it resumed
# (task, epoch, batches done) where the killed copy dies, and the checkpoint settings that put a save just before:
# a mid-epoch save every 2 steps; every epoch end written; task 2 not begun (task 1's last checkpoint is newest).
KILLS = {"mid_epoch": ((2, 1, 10), {"every_steps": 2}), "epoch_end": ((2, 1, 0), {"epoch_seconds": 0}),
         "task_start": ((2, 0, 0), {})}


def config(runs: Path, name: str, strategy: str, checkpoint: dict) -> dict:
    """Two permuted iris tasks (14 batches an epoch, 2 epochs each) with dropout, Adam and a cosine schedule."""
    return {"name": name, "runs_dir": str(runs), "seed": 5, "data": {"dataset": "iris"},
            "model": {"arch": "mlp", "hidden": [8], "dropout": 0.1},
            "train": {"epochs": 2, "batch_size": 8, "tensorboard": False, "optimizer": {"name": "adam", "lr": 0.02},
                      "schedule": {"name": "cosine"}, "checkpoint": checkpoint},
            "continual": {"scenario": "permuted", "tasks": 2, "strategy": strategy, **STRATEGIES[strategy]}}


class KillAt(Callback):
    """SIGKILL this process when batch ``batch`` of epoch ``epoch`` of task ``task`` (from 1) is about to start."""

    def __init__(self, task: int, epoch: int, batch: int) -> None:
        self.task, self.epoch, self.batch = task, epoch, batch
        self.started = 0

    def on_train_start(self, state) -> None:
        self.started += 1

    def on_batch_start(self, state) -> None:
        if (self.started, state.epoch, state.batch) == (self.task, self.epoch, self.batch):
            os.kill(os.getpid(), signal.SIGKILL)


def killed_run(cfg: dict, where: tuple[int, int, int]) -> None:
    """Run the sequence in a forked child that SIGKILLs itself at ``where``."""
    wait_for_reports()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            torch.set_num_threads(1)
            run_continual(cfg, progress="none", extra_callbacks=[KillAt(*where)])
            code = 3  # it should not have finished
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"child ended with status {status}"


def contents(run: Path) -> dict[Path, bytes]:
    """Every file of a run folder but its lock (whose stale PID the next process clears), with its bytes."""
    return {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}


def files(run: Path) -> tuple[bytes, bytes, bytes]:
    return tuple((run / name).read_bytes() for name in ("model.safetensors", "losses.jsonl", "metrics.jsonl"))


@pytest.mark.slow
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_sigkill_then_resume_is_byte_equal_to_an_uninterrupted_sequence(tmp_path: Path, strategy: str) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        straight = run_continual(config(tmp_path, "straight", strategy, {}), progress="none")
        expected = files(tmp_path / "straight")
        lines = [json.loads(line) for line in expected[1].splitlines()]
        assert [line["task"] for line in lines] == [1] * 28 + [2] * 28, "each task's 2 epochs of 14 batches, tagged"
        assert len(expected[2].splitlines()) == 4
        with pytest.raises(RunFolderError, match="holds a task sequence of lamina continual"):
            lamina.resume(tmp_path / "straight", progress="none")  # the plain loop never trains over a sequence
        for kill, (where, checkpoint) in KILLS.items():
            cfg = config(tmp_path, kill, strategy, checkpoint)
            killed_run(cfg, where)
            assert json.loads((tmp_path / kill / "continual.json").read_text())["status"] == "running"
            if kill == "mid_epoch":  # the strategy's settings may not change on resume; nothing is written
                setting = next(iter(STRATEGIES[strategy]))
                changed = cfg | {"continual": cfg["continual"] | {setting: 2 * cfg["continual"][setting]}}
                before = contents(tmp_path / kill)
                with pytest.raises(ConfigError, match=rf"continual section must stay as it was.*\"{setting}\""):
                    run_continual(changed, progress="none", resume=True)
                assert contents(tmp_path / kill) == before
            if kill == "epoch_end":  # by run folder, as `lamina resume RUN` does
                result = CliRunner().invoke(app, ["resume", str(tmp_path / kill), "--progress", "none"])
                assert result.exit_code == 0, result.output[-2000:]
                assert "average accuracy" in result.output
            else:
                assert run_continual(cfg, progress="none", resume=True).matrix == straight.matrix
            assert files(tmp_path / kill) == expected, f"{strategy}: resume after a kill at {kill} is not exact"
            assert json.loads((tmp_path / kill / "continual.json").read_text())["accuracy_matrix"] == straight.matrix
        with pytest.raises(RunFolderError, match="has finished"):
            run_continual(cfg, progress="none", resume=True)
    finally:
        torch.set_num_threads(threads)
        wait_for_reports()


def test_the_strategies_state_is_in_the_checkpoint_and_damage_is_refused(tmp_path: Path) -> None:
    """EWC's anchors travel as tensors; a saved anchor of the wrong shape is refused by name, not a traceback."""
    from lamina.continual.strategies import EWC, Replay

    ewc = EWC(1.0, 4)
    model = torch.nn.Linear(3, 2)
    ewc.before_task(model, None, 0)
    saved = {f"{kind}.0.{n}": torch.ones_like(p) for kind in ("fisher", "anchor") for n, p in model.named_parameters()}
    ewc.load_tensors(saved)
    assert len(ewc.anchors) == 1 and set(ewc.tensors()) == set(saved)
    with pytest.raises(ValueError, match="fisher.0.weight"):
        ewc.load_tensors(saved | {"fisher.0.weight": torch.ones(5)})
    with pytest.raises(ValueError, match="non-negative"):
        ewc.load_tensors(saved | {"fisher.0.weight": -torch.ones(2, 3)})
    replay = Replay(4, None)
    replay.load_state_dict({"seen": 10})
    replay.sample = (torch.zeros(1, 3), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="4 samples"):
        replay.load_tensors({"x": torch.zeros(3, 3), "y": torch.zeros(3, dtype=torch.long)})
    with pytest.raises(ValueError, match="callbacks.Replay.seen"):
        replay.load_state_dict({"seen": -1})
