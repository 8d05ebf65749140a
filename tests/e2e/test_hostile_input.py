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
