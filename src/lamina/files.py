"""Atomic, pickle-free persistence: every file lamina writes goes through here.

A write goes to a temporary file in the destination folder, is flushed and
fsynced, then renamed over the destination, and the folder is fsynced, so a
crash leaves either the old file or the new one, never half of one. Tensors
are stored as safetensors and metadata as JSON; nothing is ever unpickled.

A file gets the mode ``open()`` would give it (0666 less the umask), not the
0600 of a temporary file, so a run folder in a shared team folder is readable
(or writable, under umask 002) by the team, as its folders are. lamina writes
no secrets (no tokens or keys), so no file needs to be kept private.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from lamina.errors import RunFolderError


def atomic_write_bytes(path: Path, data: bytes, sync_folder: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix.

    ``sync_folder=False`` leaves the folder's fsync to the caller, who writes several
    files into one folder and then syncs it once with :func:`fsync_dir` (a checkpoint save).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes it 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_folder:
        fsync_dir(path.parent)


def umask() -> int:
    """The process's file-creation mask, read without changing it where the system shows it (Linux's /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_bytes(path, encode_json(data))


def read_json(path: Path) -> Any:
    """Read a JSON file lamina wrote, with a clear error when it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise RunFolderError(f"{path} is missing")
    return decode_json(path.read_bytes(), path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON Lines file lamina wrote (metrics.jsonl): [] when it is absent; a damaged line or one
    that is not a JSON object is a RunFolderError naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if line.strip():
            record = decode_json(line, Path(f"{path} line {number}"))
            if not isinstance(record, dict):
                raise RunFolderError(f"{path} line {number} is not a JSON object; the file may be corrupt")
            records.append(record)
    return records


def decode_json(data: bytes, path: Path) -> Any:
    """Parse JSON bytes read from ``path``; anything unreadable is a RunFolderError naming the file."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also JSONDecodeError, huge ints
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise RunFolderError(f"{path} is not valid JSON ({reason}); the file may be corrupt") from None


def encode_json(data: Any, indent: int | None = 2) -> bytes:
    """The bytes :func:`write_json` writes; ``indent=None`` gives one line, about 10x faster to encode (C encoder)."""
    return (json.dumps(data, indent=indent, sort_keys=False) + "\n").encode("utf-8")


def encode_tensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Named tensors as safetensors bytes (copied to contiguous CPU memory)."""
    from safetensors.torch import save

    return save({name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}, metadata=metadata)


def decode_tensors(data: bytes, path: Path) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes read from ``path``; a malformed file is a RunFolderError naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except (SafetensorError, ValueError, OSError, RuntimeError, TypeError, OverflowError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise RunFolderError(f"{path} is not a readable safetensors file ({reason})") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save named tensors as safetensors, atomically; a failed write (a full disk) is a RunFolderError and
    leaves the previous file as it was."""
    try:
        atomic_write_bytes(Path(path), encode_tensors(tensors, metadata))
    except OSError as exc:
        raise RunFolderError(f"could not write {path}: {exc.strerror or exc}; any previous {Path(path).name} "
                             "is unchanged") from None


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file, refusing missing or malformed files with a message naming them."""
    path = Path(path)
    if not path.is_file():
        raise RunFolderError(f"{path} is missing")
    return decode_tensors(path.read_bytes(), path)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a new or renamed file in it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
