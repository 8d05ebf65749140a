"""How the workers of one study, on one machine or on many, agree: storage, a lock, heartbeats, recovery.

- **Storage**: optuna's RDB storage. sqlite is the one-machine default; a database server
  (PostgreSQL, MySQL) is what workers on several machines share.
- **The lock** under which a worker counts the trials and takes the next one, so that together
  the workers run exactly the requested number: a PostgreSQL advisory lock held by a database
  session (released by the server when the session ends, even if the worker is killed) for a
  PostgreSQL URL, a MySQL named lock for MySQL, a file lock beside the database for sqlite.
- **Heartbeats**: while a trial runs, its worker records a heartbeat in the database every
  ``tune.heartbeat`` seconds. A RUNNING trial whose heartbeat is older than
  ``GRACE_BEATS`` beats belongs to a dead worker on any machine: it is failed and its parameters
  queued again (optuna's stale-trial retry). On the worker's own machine a dead process is seen
  at once (its PID is gone) without waiting for the grace period.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import socket
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lamina.errors import ConfigError
from lamina.train.lock import alive

GRACE_BEATS = 4
_ENGINES: dict[str, Any] = {}


def database_url(url: str) -> str:
    """``url`` with a PostgreSQL driver that is installed: psycopg 3 when psycopg2 is absent."""
    if url.startswith(("postgresql://", "postgres://")):
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_storage(url: str, heartbeat: int | None = None) -> Any:
    """optuna's RDB storage for ``url``, with heartbeats every ``heartbeat`` seconds when given.

    sqlite waits for locks instead of failing at once; stale trials (no heartbeat for
    ``GRACE_BEATS`` beats) are failed and queued again with the same parameters.
    """
    import optuna

    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    beats: dict[str, Any] = {}
    if heartbeat:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
        beats = {"heartbeat_interval": heartbeat, "grace_period": GRACE_BEATS * heartbeat,
                 "heartbeat_stale_trial_callback": retry}
    try:
        return optuna.storages.RDBStorage(database_url(url), engine_kwargs=kwargs, **beats)
    except Exception as exc:  # sqlalchemy raises many kinds for a bad URL or an unreachable server
        raise ConfigError(f"storage {url!r} cannot be opened: {str(exc)[:300]}") from None


@contextlib.contextmanager
def study_lock(url: str, study_name: str) -> Iterator[None]:
    """An exclusive lock shared by every worker of one study: machine-wide for sqlite, server-wide for a database."""
    key = int.from_bytes(hashlib.sha256(f"lamina-tune|{study_name}".encode()).digest()[:8], "big", signed=True)
    if url.startswith(("postgresql", "postgres")):
        with _server_lock(url, "SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)", key):
            yield
    elif url.startswith("mysql"):
        with _server_lock(url, "SELECT GET_LOCK(:key, -1)", "SELECT RELEASE_LOCK(:key)", f"lamina-{key}"):
            yield
    else:
        with file_lock(url, study_name):
            yield


@contextlib.contextmanager
def _server_lock(url: str, take: str, give: str, key: Any) -> Iterator[None]:
    """A lock held by one database session: the server frees it if this process dies mid-way."""
    import sqlalchemy

    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = sqlalchemy.create_engine(database_url(url), poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(take), {"key": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text(give), {"key": key})


@contextlib.contextmanager
def file_lock(url: str, study_name: str) -> Iterator[None]:
    """An exclusive lock shared by the workers of one study on this machine (beside a sqlite file, else in /tmp)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///") + ".lock")
    else:
        digest = hashlib.sha256(f"{url}|{study_name}".encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"lamina-tune-{digest}.lock"
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def heartbeat(storage: Any, study_name: str, number: int) -> Iterator[None]:
    """Record trial ``number``'s heartbeat now and every interval until the block ends (a daemon thread)."""
    interval = storage.get_heartbeat_interval()
    if not interval:
        yield
        return
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study_name), number)
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is retried; only a long silence fails the trial
                storage.record_heartbeat(trial_id)
            if stop.wait(interval):
                return

    storage.record_heartbeat(trial_id)
    thread = threading.Thread(target=beat, name=f"lamina-heartbeat-{number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def counted(study: Any) -> int:
    """Trials that count toward the target: finished, pruned, or running now."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)))


def recover_stale(study: Any, storage: Any) -> list[int]:
    """Fail RUNNING trials whose worker is gone, queue their parameters again, and return their numbers.

    A worker on this machine is gone when its PID is; one on any machine when its heartbeat is
    older than the grace period.
    """
    import optuna
    from optuna.trial import TrialState

    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    recovered = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t.number in before]
    host = socket.gethostname()
    study_id = storage.get_study_id_from_name(study.study_name)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get("worker") or {}
        if owner.get("host") != host or alive(int(owner.get("pid", -1))):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        storage.set_trial_user_attr(trial_id, "note", "its worker died; queued again")
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        recovered.append(t.number)
    return recovered
