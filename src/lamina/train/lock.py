"""The run folder's lock: one training process at a time writes a run folder.

Two processes that train or resume the same run would interleave their
checkpoints, ``metrics.jsonl`` and ``losses.jsonl``. The process that trains
holds an exclusive advisory lock (``flock``) on ``<run>/.lock`` and writes its
PID there; a second one is refused with an error naming that PID. The kernel
drops the lock when its holder dies, however it dies, so the lock of a killed
run (a stale PID left in the file) is simply taken over by the next process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lamina.errors import RunFolderError

LOCK_FILE = ".lock"


class RunFolderBusy(RunFolderError):
    """Another process holds the run folder's lock."""


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold run folder ``root``'s exclusive lock for the ``with`` block; refuse at once when another process holds it.

    The lock is released when the block ends (also on errors) and by the kernel when the process dies.
    """
    import fcntl

    path = Path(root) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise RunFolderError(f"could not open the lock file {path}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderBusy(busy_message(Path(root), holder(fd))) from None
        os.ftruncate(fd, 0)  # a stale PID of a killed holder goes
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)  # also for a process started meanwhile that shares the descriptor
    finally:
        os.close(fd)


def holder(fd: int) -> int | None:
    """The PID written in an open lock file (None when it is empty or unreadable)."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def busy_message(root: Path, pid: int | None) -> str:
    """The error for a run folder another process holds, naming that process."""
    who = f"another lamina process (PID {pid})" if pid is not None else "another lamina process"
    if pid is not None and not alive(pid):
        who += ", which has ended, though a process it started still holds the lock"
    return (f"{root} is in use by {who}: one process at a time trains a run. Wait for it to finish, "
            f"or stop it{f' (kill {pid})' if pid is not None else ''} and resume then")


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (0 and negative numbers, which name process groups, are no process)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
