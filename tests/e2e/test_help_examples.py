"""Every `--help` example names real files and runs (issue 24, item 17), so help text cannot drift.

The fast test checks each example's paths: files under ``examples/`` exist,
``runs/NAME`` is a run some example config (or ``lamina demo``) writes, unless
it follows ``--out``. The slow one runs every example command in a temporary
folder, after building the runs it names with one epoch; only counts that cost
time are cut (``FASTER``), so names, paths and options are exercised as written.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from lamina.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
OUTPUT_OPTIONS = {"--out", "--output", "--storage"}
# Option values cut so the whole file runs in minutes; everything else runs as the help text says.
FASTER = {"--trials": "2", "--jobs": "1", "--epochs": "1", "--tokens": "20", "--finetune-epochs": "1", "--nproc": "1"}


def help_examples() -> list[list[str]]:
    """Every example command in the commands' help texts, as argument lists after `lamina`."""
    found = []

    def walk(command: click.Command) -> None:
        for line in (command.help or "").splitlines():
            match = re.match(r"(?:Examples?:\s*|With [^:]*:\s*)?lamina (.+)$", line.strip())
            if match:
                found.append(shlex.split(match.group(1)))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def example_runs() -> dict[str, tuple[Path | None, str]]:
    """Run name -> (the example config that writes it, the command that trains it); the demo writes its own."""
    runs: dict[str, tuple[Path | None, str]] = {"demo-digits-cnn": (None, "demo")}
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and "name" in raw:
            runs[raw["name"]] = (path, "generative" if "generative" in raw else "train")
    return runs


EXAMPLE_COMMANDS = help_examples()


def test_every_command_has_an_example() -> None:
    names = {args[0] if args[0] != "lab" else f"lab {args[1]}" for args in EXAMPLE_COMMANDS}
    commands = typer.main.get_command(app).commands
    expected = {n for n in commands if n != "lab"} | {"lab list", "lab run"}
    assert expected <= names, expected - names


@pytest.mark.parametrize("args", EXAMPLE_COMMANDS, ids=" ".join)
def test_help_example_names_real_files_and_runs(args: list[str]) -> None:
    runs = example_runs()
    for before, word in zip([""] + args, args):
        if before in OUTPUT_OPTIONS:
            continue
        if word.startswith("examples/"):
            assert (ROOT / word).is_file(), f"`lamina {' '.join(args)}` names {word}, which does not exist"
        elif word.startswith("runs/"):
            name = word.split("/")[1]
            assert name in runs, f"`lamina {' '.join(args)}` names {word}; no example writes a run called {name}"
        elif "." in word and "/" not in word and word.rsplit(".", 1)[1] in ("csv", "npz", "yaml"):
            pytest.fail(f"`lamina {' '.join(args)}` names {word}, a file a newcomer does not have")


def _faster(args: list[str]) -> list[str]:
    out = [FASTER.get(before, word) if before in FASTER else word for before, word in zip([""] + args, args)]
    out = [re.sub(r"^train\.epochs=\d+$", "train.epochs=2", word) for word in out]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(args: list[str], tmp: Path) -> None:
    port = str(_free_port())
    args = [port if before == "--port" else word for before, word in zip([""] + args, args)]
    server = subprocess.Popen([sys.executable, "-m", "lamina", *args], cwd=tmp, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                    assert reply.status == 200
                    return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"`lamina {' '.join(args)}` did not answer /health")
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_every_help_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not SHAKESPEARE.is_file():
        pytest.skip(f"{SHAKESPEARE} is missing")
    (tmp_path / "examples").symlink_to(EXAMPLES)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    runs = example_runs()

    def lamina(args: list[str]) -> None:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"`lamina {' '.join(args)}` failed:\n{result.output[-2000:]}"

    built: set[str] = set()
    for args in EXAMPLE_COMMANDS:
        for word in args:
            name = word.split("/")[1] if word.startswith("runs/") else None
            if name in runs and name not in built and not (tmp_path / "runs" / name).is_dir():
                config, command = runs[name]
                if config is None:
                    lamina([command, "--progress", "none"])
                elif "language" in config.parts:
                    lamina([command, str(config), "--set", "train.steps=5", "--set", "train.eval_every=5",
                            "--set", f"data.path={SHAKESPEARE}"])
                else:
                    lamina([command, str(config), "--set", "train.epochs=1", "--progress", "none"])
                built.add(name)
        args = _faster(args)
        if args[:3] == ["lab", "run", "all"]:
            continue  # the twelve labs are tests/labs' own runs; `lab run vanishing_gradients --quick` runs here
        if args[0] == "serve":
            _serve(args, tmp_path)
            continue
        takes_set = args[0] in ("train", "continual", "tune", "pretrain", "lr-find", "generative")
        lamina(args + (["--set", "train.epochs=1"] if takes_set else []))
