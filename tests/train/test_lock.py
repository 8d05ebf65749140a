"""One process at a time trains a run folder: a second train --resume or resume is refused, naming the holder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from lamina.train.lock import LOCK_FILE, RunFolderBusy, run_lock

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 3

# Trains the config, pausing at the start of epoch 2 until the file ``go`` exists (``ready`` says it paused).
PAUSED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import lamina
    from lamina.train.callbacks import Callback

    config, flags = sys.argv[1], Path(sys.argv[2])

    class Pause(Callback):
        def on_epoch_start(self, state):
            if state.epoch == 1:
                (flags / "ready").write_text("")
                while not (flags / "go").exists():
                    time.sleep(0.05)

    lamina.fit(config, progress="none", resume=True, extra_callbacks=[Pause()])
""")


def test_second_holder_is_refused_naming_the_first_and_a_stale_lock_is_taken_over(tmp_path: Path) -> None:
    with run_lock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(RunFolderBusy, match=f"in use by another lamina process \\(PID {os.getpid()}\\)"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):  # released on exit
        pass
    with pytest.raises(KeyError), run_lock(tmp_path):  # released on errors too
        raise KeyError("x")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_FILE).write_text(f"{dead.pid}\n")  # what a SIGKILLed holder leaves
    with run_lock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())


def lamina(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_train_resume_and_resume_while_a_run_trains_get_one_error_naming_its_pid(tmp_path: Path) -> None:
    config = tmp_path / "iris.yaml"
    config.write_text(yaml.safe_dump({
        "name": "locked", "runs_dir": str(tmp_path / "runs"), "data": {"dataset": "iris"},
        "model": {"arch": "mlp", "hidden": [8]},
        "train": {"epochs": EPOCHS, "batch_size": 8, "tensorboard": False, "checkpoint": {"epoch_seconds": 0}}}))
    first = subprocess.Popen([sys.executable, "-c", PAUSED, str(config), str(tmp_path)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "ready").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        run = tmp_path / "runs" / "locked"
        before = {name: (run / name).read_bytes() for name in ("metrics.jsonl", "losses.jsonl")}
        for args in (["train", str(config), "--resume"], ["resume", str(run)]):
            second = lamina(*args)
            assert second.returncode == 2, second.stderr[-2000:]
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and f"PID {first.pid}" in lines[0], lines
            assert {name: (run / name).read_bytes() for name in before} == before
    finally:
        (tmp_path / "go").write_text("")
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-2000:]
    metrics = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in metrics] == list(range(1, EPOCHS + 1))
    losses = [(row["epoch"], row["batch"]) for row in map(json.loads, (run / "losses.jsonl").read_text().splitlines())]
    assert len(losses) == len(set(losses)) == EPOCHS * 14
    assert (run / LOCK_FILE).read_text() == ""  # released
