"""Tuning across machines on a real PostgreSQL server (issue 23, item 7).

The test starts its own PostgreSQL (initdb in a temporary folder, loopback only), then two
``lamina tune`` workers that see different host names (each in its own UTS namespace), as
two machines would. One is SIGKILLed in the middle of a trial. The other must re-run that
trial (its heartbeats stopped; the PID check cannot help across hosts) and the study must
end with exactly the requested number of complete trials. It is skipped, with the reason,
where the server, its Python driver, or separate host names cannot be had.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

TRIALS = 4


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own on a free loopback port, removed afterwards."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); the cross-machine tune test needs it")
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is None:
        pytest.skip("no PostgreSQL driver for Python (pip install 'lamina[postgres]')")
    folder = Path(tempfile.mkdtemp(prefix="lamina-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    try:
        subprocess.run(as_user + [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(as_user + [str(binaries / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l",
                                  str(folder / "server.log"), "-o", f"-p {port} -k {folder} -h 127.0.0.1 -c fsync=off",
                                  "start"], check=True, capture_output=True, timeout=120)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _worker(host: str, config: Path, url: str, cwd: Path) -> subprocess.Popen:
    """``lamina tune`` in a namespace whose host name is ``host`` (a process group, so a kill takes it all)."""
    command = [sys.executable, "-m", "lamina", "tune", str(config), "--storage", url, "--trials", str(TRIALS)]
    inner = f"hostname {host} && exec " + " ".join(f"'{c}'" for c in command)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(["unshare", "--uts", "sh", "-c", inner], cwd=cwd, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_hosts_share_a_study_and_a_killed_trial_is_run_again(postgres_url: str, tmp_path: Path) -> None:
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    from lamina.tune.coordination import make_storage, study_lock

    if subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot give workers their own host names here (unshare --uts needs root)")
    config = tmp_path / "tune.yaml"
    config.write_text(yaml.safe_dump({
        "name": "hosts", "seed": 0, "runs_dir": "runs",
        "data": {"dataset": "digits", "view": "flat", "split": {"val": 0.2, "test": 0.2, "seed": 0}},
        "model": {"arch": "mlp", "hidden": [64]}, "train": {"epochs": 20, "batch_size": 32},
        "tune": {"sampler": "random", "trials": TRIALS, "heartbeat": 1,
                 "params": {"train.optimizer.lr": {"low": 1e-3, "high": 1e-1, "log": True}}}}))
    doomed = _worker("machine-a", config, postgres_url, tmp_path)
    with study_lock(postgres_url, "hosts"):  # as a worker does: the first to connect creates the tables
        storage = make_storage(postgres_url)
    deadline = time.monotonic() + 240
    victim = None
    while victim is None and time.monotonic() < deadline and doomed.poll() is None:
        try:
            study = optuna.load_study(study_name="hosts", storage=storage)
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            victim = next((t.number for t in running if t.user_attrs.get("worker", {}).get("host") == "machine-a"), None)
        except KeyError:  # the study is not created yet
            pass
        time.sleep(0.2)
    assert victim is not None, f"worker on machine-a never started a trial:\n{doomed.communicate()[0][-2000:]}"
    time.sleep(0.5)  # inside the trial
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=30)
    survivor = _worker("machine-b", config, postgres_url, tmp_path)
    output, _ = survivor.communicate(timeout=600)
    assert survivor.returncode == 0, output[-3000:]
    trials = optuna.load_study(study_name="hosts", storage=storage).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(complete) == TRIALS, [(t.number, t.state.name) for t in trials]
    assert [t.number for t in failed] == [victim]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        rerun = [t for t in complete if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == victim]
    assert len(rerun) == 1 and rerun[0].params == failed[0].params
    assert {t.user_attrs["worker"]["host"] for t in complete} <= {"machine-a", "machine-b"}
    assert f"trial {victim}: its worker died; queued again" in output
