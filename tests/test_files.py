"""Atomic, pickle-free persistence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from lamina.errors import RunFolderError
from lamina.files import atomic_write_text, load_tensors, read_json, save_tensors, write_json


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "w.safetensors"
    save_tensors(target, {"w": torch.ones(3)})
    with pytest.raises(AttributeError):
        save_tensors(target, {"w": "not a tensor"})  # type: ignore[dict-item]
    assert torch.equal(load_tensors(target)["w"], torch.ones(3))
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors"]


def test_tensors_round_trip(tmp_path: Path) -> None:
    tensors = {"a": torch.randn(2, 3), "b": torch.arange(4)}
    save_tensors(tmp_path / "t.safetensors", tensors)
    loaded = load_tensors(tmp_path / "t.safetensors")
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())


def test_corrupt_and_missing_files_are_refused_with_their_name(tmp_path: Path) -> None:
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(RunFolderError, match="model.safetensors is not a readable safetensors file"):
        load_tensors(bad)
    with pytest.raises(RunFolderError, match="gone.safetensors is missing"):
        load_tensors(tmp_path / "gone.safetensors")
    (tmp_path / "s.json").write_text("{oops")
    with pytest.raises(RunFolderError, match="s.json is not valid JSON"):
        read_json(tmp_path / "s.json")
    write_json(tmp_path / "ok.json", {"a": [1, 2]})
    assert read_json(tmp_path / "ok.json") == {"a": [1, 2]}


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def mask(request: pytest.FixtureRequest):
    """Run the test under a umask, put back after."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_atomic_writes_respect_the_umask(tmp_path: Path, mask: int) -> None:
    atomic_write_text(tmp_path / "a.txt", "one")
    save_tensors(tmp_path / "sub" / "w.safetensors", {"w": torch.ones(1)})
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "sub" / "w.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "sub").stat().st_mode & 0o777 == 0o777 & ~mask


def test_a_run_folder_follows_the_umask(tmp_path: Path, mask: int) -> None:
    import lamina
    from lamina.report.background import wait_for_reports

    lamina.fit({"name": "shared", "runs_dir": str(tmp_path / "team"), "data": {"dataset": "iris"},
                "model": {"arch": "mlp", "hidden": [4]}, "train": {"epochs": 1, "tensorboard": False}},
               progress="none")
    wait_for_reports()
    paths = list((tmp_path / "team").rglob("*"))
    assert any(p.name == "model.safetensors" for p in paths) and any(p.name == "state.json" for p in paths)
    wrong = [f"{p.relative_to(tmp_path)} {p.stat().st_mode & 0o777:o}" for p in paths
             if p.stat().st_mode & 0o777 != (0o777 if p.is_dir() else 0o666) & ~mask]
    assert not wrong, wrong


def test_a_full_disk_while_saving_weights_is_one_error_and_keeps_the_previous_file(tmp_path, monkeypatch) -> None:
    import errno

    path = tmp_path / "model.safetensors"
    save_tensors(path, {"w": torch.ones(3)})
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # the OS-write boundary: the data cannot reach the disk
    with pytest.raises(RunFolderError, match=r"could not write .*model.safetensors: No space left on device"):
        save_tensors(path, {"w": torch.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before and torch.equal(load_tensors(path)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
