"""Hostile and careless input through the command line (issue 25): each case is refused with one ``error:``
line and exit status 2, no traceback, within 10 s and 1 GB, and changes no file outside the run folder."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lamina.cli import app

runner = CliRunner()
LIMIT_S = 10.0
LIMIT_BYTES = 2**30


@pytest.fixture(scope="module", autouse=True)
def _imported() -> None:
    """Import what training imports once, so the 10 s limit times each refusal, not a module's first import."""
    import sklearn.datasets  # noqa: F401

    import lamina.data.prepare  # noqa: F401
    import lamina.trainer  # noqa: F401


def files_under(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (outside ``skip``) with its size and modification time."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file() and not (skip is not None and p.is_relative_to(skip))}


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def refused(args: list[str], match: str, watch: Path, run_folder: Path | None = None) -> str:
    """Run the CLI in-process on a bad input and check the whole contract; return the error line."""
    import re

    before, peak, started = files_under(watch, run_folder), peak_rss(), time.perf_counter()
    result = runner.invoke(app, args)
    elapsed, grown = time.perf_counter() - started, peak_rss() - peak
    output = result.output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2, output[-2000:]
    assert len(errors) == 1 and "Traceback" not in output and len(output) < 5000, output[-2000:]
    assert re.search(match, errors[0]), errors[0][:500]
    assert elapsed < LIMIT_S and grown < LIMIT_BYTES, (elapsed, grown)
    assert files_under(watch, run_folder) == before
    return errors[0]


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


BASE = "data: {dataset: iris}\nmodel: {arch: mlp, hidden: [8]}\ntrain: {epochs: 1, tensorboard: false}\n"
LAUGHS = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ["lol"] * 9) + "]\n" for i in range(9))


@pytest.mark.parametrize(("text", "match"), [
    (LAUGHS + BASE.replace("hidden: [8]", "hidden: *l8"), r"aliases .*expand to more than 10,000"),
    (LAUGHS + BASE + "name: *l8\n", r"aliases .*expand"),
    (LAUGHS + BASE.replace("dataset: iris", "dataset: iris, drop: *l8"), r"aliases .*expand"),
    (LAUGHS + BASE + "eval: {metrics: *l8}\n", r"aliases .*expand"),
    ("a: &a [1, *a]\n" + BASE, r"contains an alias \(\*name\) of itself"),
    (BASE + "name: " + "n" * 1_500_000 + "\n", r"1,500,\d+ characters; a config may hold at most 1,000,000"),
    (BASE + "data: {dataset: wine}\n", r"key 'data' is given twice in one mapping \(lines 1 and 4\)"),
    (BASE.replace("hidden: [8]", "hidden: [8], hidden: [9]"), r"key 'hidden' is given twice"),
    (BASE + "seed: 1180591620717411303424\n", r"seed must be less than or equal to 4294967295"),
    (BASE + "name: " + "n" * 300 + "\n", r"name: string should have at most 100 characters; got 'nnn.{0,40}$"),
    (BASE.replace("dataset: iris", "dataset: " + "x" * 100_000), r"data.dataset must be one of .*got 'xxx.{0,40}$"),
    (BASE + "\n".join(f"k{i}: {i}" for i in range(60_000)) + "\n", r"line 1 has 60,00\d keys; .* at most 1,000"),
    (BASE + "\n".join(f"k{i}: {i}" for i in range(500)) + "\n", r"has 500 problems:"),
    (BASE.replace("epochs: 1", "epochs: 1, threads: 1000000"), r"train.threads must be at most \d+ .*got 1000000"),
    (BASE.replace("dataset: iris", "dataset: iris, loader_workers: 1000000"), r"data.loader_workers must be at most"),
    (BASE.replace("hidden: [8]", "hidden: [100000, 100000]"), r"model to 10,000,[\d,]+ parameters, about .* GiB to train.* has .* GiB"),
    (BASE.replace("{arch: mlp, hidden: [8]}", "{layers: [{dense: 1000000000000}, {dense: 3}]}"), r"GiB to train"),
    (BASE.replace("iris", "digits").replace("{arch: mlp, hidden: [8]}",
                                           "{layers: [{conv2d: {filters: 4, kernel: 1000}}, flatten, {dense: 10}]}"),
     r"conv2d kernel 1000 spans 1000 positions on an input of size 8"),
], ids=["bomb-hidden", "bomb-name", "bomb-drop", "bomb-metrics", "recursive-alias", "50MB-name-capped",
        "duplicate-section", "duplicate-key-inline", "seed-2**70", "name-300", "long-value-echo", "60k-unknown-keys",
        "500-unknown-keys",
        "threads", "loader-workers", "hidden-1e5x1e5", "dense-1e12", "conv-kernel-1000"])
def test_hostile_configs_are_refused_by_name(tmp_path: Path, text: str, match: str) -> None:
    path = config(tmp_path, text + f"runs_dir: {tmp_path / 'runs'}\n")
    line = refused(["train", str(path), "--progress", "none"], match, tmp_path)
    assert len(line) < 400 + len(str(path))


# ---------------------------------------------------------------- predictions (items 5, 7)

@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small iris run trained from a CSV (named columns a-d), exported to ONNX for the second backend."""
    import lamina
    from lamina.export.onnx import export_run

    root = tmp_path_factory.mktemp("hostile")
    lines = ["a,b,c,d,label"] + [f"{5 + i % 7 * 0.3:.1f},{3 + i % 5 * 0.2:.1f},{1 + i % 11 * 0.5:.1f},"
                                 f"{i % 13 * 0.2:.1f},{'xyz'[i % 3]}" for i in range(90)]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    run = lamina.fit({"name": "tab", "runs_dir": str(root / "runs"), "data": {"path": str(root / "train.csv"),
                      "target": "label"}, "model": {"arch": "mlp", "hidden": [8]},
                      "train": {"epochs": 1, "tensorboard": False}}, progress="none")
    export_run(run)
    return run.folder.root


OVERFLOWS = [{"a": 1e300, "b": 3.5, "c": 1.4, "d": 0.2}, {"a": 5.0, "b": 3.5, "c": 1.4, "d": -3e38}]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("instance", OVERFLOWS, ids=["1e300", "-3e38"])
def test_values_that_overflow_once_scaled_are_a_422_on_both_backends(table_run: Path, backend: str,
                                                                     instance: dict) -> None:
    import json

    import lamina
    from lamina.serve.app import Predictor, answer

    predictor = Predictor(lamina.load_run(table_run), backend)
    status, body = answer(predictor, json.dumps({"instances": [{"a": 5.0, "b": 3.0, "c": 1.0, "d": 0.2},
                                                               instance]}).encode())
    detail = json.loads(body)["detail"][0]
    column = "a" if instance["a"] > 10 else "d"
    assert status == 422 and detail["loc"] == ["body", "instances", 1], body
    assert f"row 1 (from 0), column '{column}' is not finite" in detail["msg"]


def test_predict_names_the_row_and_column_that_overflows(table_run: Path, tmp_path: Path) -> None:
    import lamina

    data = tmp_path / "new.csv"
    data.write_text("a,b,c,d\n5.1,3.5,1.4,0.2\n1e300,3.5,1.4,0.2\n")
    refused(["predict", str(table_run), str(data)], r"new.csv: row 1 \(from 0\), column 'a' is not finite", tmp_path)
    with pytest.raises(lamina.errors.DataError, match=r"row 0 \(from 0\), column 'd' is not finite"):
        lamina.load_run(table_run).predict_file(_one_row(tmp_path, "5,3,1,-3e38"))


def _one_row(folder: Path, row: str) -> Path:
    path = folder / "one.csv"
    path.write_text(f"a,b,c,d\n{row}\n")
    return path


@pytest.mark.parametrize("kind", ["folder", "fifo", "device", "under-a-file"])
def test_predict_out_writes_only_regular_files(table_run: Path, tmp_path: Path, kind: str) -> None:
    import os

    target = {"folder": tmp_path / "out", "fifo": tmp_path / "pipe", "device": Path("/dev/null"),
              "under-a-file": tmp_path / "one.csv" / "p.csv"}[kind]
    if kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    data = _one_row(tmp_path, "5,3,1,0.2")
    words = {"folder": "is a folder", "fifo": "is a FIFO", "device": "is a device", "under-a-file": "one.csv is not a folder"}
    before = os.stat("/dev/null")
    refused(["predict", str(table_run), str(data), "--out", str(target)], f"output file .*{words[kind]}", tmp_path)
    assert os.stat("/dev/null").st_ino == before.st_ino


def test_predict_out_replaces_a_regular_file_atomically(table_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    out.write_text("old\n")
    result = runner.invoke(app, ["predict", str(table_run), str(_one_row(tmp_path, "5,3,1,0.2")), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("label,prob_x") and sorted(p.name for p in tmp_path.iterdir()) == ["one.csv", "p.csv"]


@pytest.mark.parametrize(("option", "value", "match"), [
    ("--max-bytes", "-5", r"--max-bytes must be at least 1"), ("--port", "99999", r"--port must be between 1 and 65535"),
    ("--port", "-1", r"--port must be between 1 and 65535; got -1")])
def test_serve_refuses_impossible_limits(table_run: Path, tmp_path: Path, option: str, value: str, match: str) -> None:
    refused(["serve", str(table_run), option, value], match, tmp_path)


# ---------------------------------------------------------------- damaged files and odd places (item 9)

@pytest.mark.parametrize("name", ["summary.json", "metrics.jsonl", "monitor.json", "diagnosis.json"])
@pytest.mark.parametrize("command", ["diagnose", "compare"])
def test_damaged_run_files_are_one_error(table_run: Path, tmp_path: Path, name: str, command: str) -> None:
    import shutil

    run = tmp_path / "damaged"
    shutil.copytree(table_run, run)
    (run / name).write_text('{"epoch": [1,\n')
    args = [command, str(run)] + ([str(table_run)] if command == "compare" else [])
    if command == "compare" and name in ("monitor.json", "diagnosis.json"):
        pytest.skip("compare does not read this file")
    refused(args, rf"{name}( line 1)? is not valid JSON", tmp_path, run)


def test_a_damaged_onnx_model_is_one_error(table_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "onnx"
    shutil.copytree(table_run, run)
    (run / "model.onnx").write_bytes((table_run / "model.onnx").read_bytes()[:300])
    refused(["serve", str(run), "--backend", "onnx", "--port", "8799"], r"model.onnx is damaged or not an ONNX model",
            tmp_path)


def test_predict_on_empty_or_impossible_arrays_is_one_error(table_run: Path, tmp_path: Path) -> None:
    import numpy as np

    import lamina

    array_run = lamina.fit({"name": "arr", "runs_dir": str(tmp_path / "runs"), "data": {"dataset": "iris"},
                            "model": {"arch": "mlp", "hidden": [4]},
                            "train": {"epochs": 1, "tensorboard": False, "diagnose": False}}, progress="none")
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 4)))
    refused(["predict", str(array_run.folder.root), str(tmp_path / "empty.npz")], r"holds no samples \(shape \(0, 4\)\)",
            tmp_path, tmp_path / "runs")
    np.savez(tmp_path / "huge.npz", x=np.zeros((2, 4), dtype=np.float32))
    _claim_rows(tmp_path / "huge.npz", 10**12)
    refused(["predict", str(array_run.folder.root), str(tmp_path / "huge.npz")], r"huge.npz is not a readable NPZ",
            tmp_path, tmp_path / "runs")


def _claim_rows(path: Path, rows: int) -> None:
    """Rewrite the .npy header inside an NPZ so that it claims ``rows`` rows (the data stays 2 rows)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        data = archive.read("x.npy")
    end = data.index(b"\n") + 1  # a version 1 header: magic (6), version (2), length (2), text padded to end
    text = data[10:end].replace(b"(2, 4)", f"({rows}, 4)".encode()).rstrip()
    padded = text.ljust(end - 10 - 1) + b"\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", data[:10] + padded + data[end:])


@pytest.mark.parametrize("runs_dir", ["/dev/null", "file"])
def test_runs_dir_that_is_not_a_folder_is_one_error(tmp_path: Path, runs_dir: str) -> None:
    target = "/dev/null" if runs_dir == "/dev/null" else str(tmp_path / "c.txt")
    (tmp_path / "c.txt").write_text("x")
    path = config(tmp_path, BASE + f"runs_dir: {target}\n")
    refused(["train", str(path), "--progress", "none"], rf"runs_dir {target} is not a folder", tmp_path)


def test_an_unreadable_data_file_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "secret.csv"
    data.write_text("a,label\n1,x\n2,y\n")
    opened = Path.open

    def denied(self: Path, *args, **kwargs):  # the OS boundary: as root, chmod 000 would not stop the read
        if self == data:
            raise PermissionError(13, "Permission denied", str(self))
        return opened(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    path = config(tmp_path, BASE.replace("dataset: iris", f"path: {data}, target: label") + f"runs_dir: {tmp_path / 'r'}\n")
    refused(["train", str(path), "--progress", "none"], r"secret.csv cannot be read: permission denied",
            tmp_path, tmp_path / "r")


def test_a_2_gib_sparse_csv_is_one_error_in_bounded_memory(tmp_path: Path) -> None:
    """Item 8: a 2 GiB file of NUL bytes after its header (a sparse file: no disk used) is refused, not read whole."""
    import os

    data = tmp_path / "sparse.csv"
    data.write_text("a,b,label\n1,2,x\n")
    os.truncate(data, 2**31)
    path = config(tmp_path, BASE.replace("dataset: iris", f"path: {data}, target: label") + f"runs_dir: {tmp_path / 'r'}\n")
    refused(["train", str(path), "--progress", "none"], r"sparse.csv is not a readable csv file \(a row is longer than",
            tmp_path, tmp_path / "r")


def test_a_second_process_on_a_locked_run_is_one_error(tmp_path: Path) -> None:
    """Item 2: while another holder has the run folder's lock, resume is refused naming it; nothing is written."""
    import os

    import lamina
    from lamina.report.background import wait_for_reports
    from lamina.train.lock import run_lock

    path = config(tmp_path, BASE + f"runs_dir: {tmp_path / 'runs'}\nname: held\n")
    lamina.fit(str(path), progress="none")
    wait_for_reports()  # the figures are drawn: nothing in the folder is still being written
    run = tmp_path / "runs" / "held"
    (run / "summary.json").unlink()  # an unfinished run: what a second resume would continue
    with run_lock(run):
        refused(["resume", str(run), "--progress", "none"], rf"is in use by another lamina process \(PID {os.getpid()}\)", tmp_path)
        refused(["train", str(path), "--resume", "--progress", "none"], rf"PID {os.getpid()}", tmp_path)


def test_a_full_disk_while_writing_the_final_weights_is_one_error(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 9: the final model.safetensors cannot reach the disk (ENOSPC at the OS boundary): one error, no traceback."""
    import errno
    import os

    synced = os.fsync

    def full(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")  # the run's own weights, not a checkpoint's
        if "/full/.model.safetensors." in target:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        synced(fd)

    monkeypatch.setattr(os, "fsync", full)
    path = config(tmp_path, BASE + f"runs_dir: {tmp_path / 'runs'}\nname: full\n")
    refused(["train", str(path), "--progress", "none"], r"could not write .*model.safetensors: No space left on device",
            tmp_path, tmp_path / "runs")
    assert not (tmp_path / "runs" / "full" / "model.safetensors").exists()
