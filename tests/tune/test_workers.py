"""Workers in real processes sharing one sqlite study: exactly N trials between them, and a killed worker's trial retried."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from lamina.files import read_json

CONFIG = {
    "name": "workers",
    "data": {"dataset": "iris", "split": {"val": 0.25, "test": 0.25}},
    "model": {"arch": "mlp", "hidden": [16]},
    "train": {"epochs": 15, "batch_size": 8, "tensorboard": False, "checkpoint": {"keep": 2}},
    "tune": {"sampler": "random", "params": {"train.optimizer.lr": {"low": 1e-3, "high": 0.1, "log": True},
                                             "model.hidden": {"choices": [[8], [16], [32]]}}},
}


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "runs_dir": str(tmp_path / "runs")}))
    return path


def tune_command(config: Path, trials: int, url: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "lamina", "tune", str(config), "--trials", str(trials), "--storage", url, "--out", str(out)]


def quiet_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def load(url: str):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="workers", storage=url)


def test_two_worker_processes_share_one_study_without_duplicates_or_losses(tmp_path: Path) -> None:
    config, url = write_config(tmp_path), f"sqlite:///{tmp_path / 'study.db'}"
    procs = [subprocess.Popen(tune_command(config, 6, url, tmp_path / f"out{i}"), env=quiet_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]

    trials = load(url).get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert sorted(t.number for t in trials) == list(range(6))
    ran = [{int(line.split()[2]) for line in err.splitlines() if line.startswith("tune: trial ")} for _, err in outputs]
    assert ran[0].isdisjoint(ran[1]) and ran[0] | ran[1] == set(range(6)), ran
    assert all(ran), f"one process ran every trial: {ran}"
    assert len({t.user_attrs["worker"]["pid"] for t in trials}) == 2
    assert all(t.user_attrs["epochs"] == 15 and t.user_attrs["test"]["accuracy"] > 0 for t in trials), \
        [(t.number, t.user_attrs.get("epochs"), t.user_attrs.get("test"), t.user_attrs.get("note")) for t in trials]


def test_a_worker_killed_mid_trial_is_resumed_and_its_trial_retried(tmp_path: Path) -> None:
    config, url, out = write_config(tmp_path), f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "out"
    worker = subprocess.Popen(tune_command(config, 4, url, out), env=quiet_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = ""
    while not line.startswith("tune: trial 0 ") and worker.poll() is None:
        line = worker.stderr.readline()  # the study and its tables exist once the first trial is told
    study = load(url)
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and time.monotonic() < deadline and worker.poll() is None:
        running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if "worker" in t.user_attrs]
        if running:
            worker.send_signal(signal.SIGKILL)
            killed = running[0]
        time.sleep(0.05)
    worker.wait(timeout=30)
    assert killed is not None, "the worker finished (or timed out) before it could be killed mid-trial"
    assert worker.returncode == -signal.SIGKILL
    assert load(url).get_trials(deepcopy=False)[killed.number].state == TrialState.RUNNING  # left behind

    again = subprocess.run(tune_command(config, 4, url, out), env=quiet_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"trial {killed.number}: its worker died; queued again" in again.stderr

    trials = load(url).get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [killed.number]
    assert failed[0].user_attrs["note"] == "its worker died; queued again"
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4 and len(trials) == 5
    retry = [t for t in complete if t.user_attrs.get("retry_of") == killed.number]
    # the retry reuses every parameter the dead trial had sampled (a kill mid-sampling leaves the rest to sample)
    assert len(retry) == 1 and failed[0].params.items() <= retry[0].params.items()
    report = read_json(out / "report.json")
    assert report["states"] == {"complete": 4, "fail": 1}
    assert (out / "best.yaml").is_file()
