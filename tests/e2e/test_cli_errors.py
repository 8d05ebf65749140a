"""Every command, given a bad argument and given a bad config (or run folder), prints one ``error:`` line and exits 2.

The commands are read from the CLI itself, so a new command without a bad-input case below fails
:func:`test_every_command_has_a_bad_input_case`. ``info``, ``lab list`` and ``examples list`` take no input
to get wrong, so they have the bad-argument case only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from lamina.cli import app

BAD_CONFIG = "data: {dataset: iris}\nmodel: {layers: [{dense: 3}]}\ntrian: {epochs: 1}\n"  # 'trian': a typo
CONFIG, RUN, FILE = "{config}", "{run}", "{file}"
BAD_INPUT = {  # command -> arguments that reach the bad config (CONFIG), bad run folder (RUN) or a plain file
    "demo": ["--runs-dir", FILE], "segment": ["--epochs", "0"], "lab run": ["no_such_lab"],
    **{c: [CONFIG] for c in ("train", "summary", "continual", "tune", "pretrain", "lr-find", "generative")},
    **{c: [RUN] for c in ("resume", "evaluate", "attack", "export", "serve", "diagnose", "explain", "generate")},
    "predict": [RUN, FILE], "compress": [RUN, "--prune", "0.5"], "compare": [RUN, RUN],
    "embed": [RUN, "--input", FILE], "classify": [FILE, "--support", FILE], "anomaly": [RUN, "--input", FILE],
    "inspect": [FILE, "--target", "no_such_column"], "examples copy": ["no_such_example"],
}
NO_INPUT = {"info", "lab list", "examples list"}


def commands() -> list[str]:
    """Every leaf command of the CLI, as typed after ``lamina`` (``lab run``)."""
    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])
        if not hasattr(command, "commands"):
            yield " ".join(path)

    return list(walk(typer.main.get_command(app), []))


def one_error_line(args: list[str]) -> str:
    """Run the CLI; check it exited 2 with exactly one line, an ``error:`` line, and return that line."""
    result = CliRunner().invoke(app, args)
    assert not result.exception or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert (result.exit_code, len(lines)) == (2, 1) and lines[0].startswith("error: "), (result.exit_code, result.output)
    return lines[0]


def test_every_command_has_a_bad_input_case() -> None:
    assert sorted(commands()) == sorted(BAD_INPUT.keys() | NO_INPUT)


@pytest.mark.parametrize("command", commands())
def test_an_unknown_option_is_one_error_line_naming_the_command(command: str) -> None:
    line = one_error_line([*command.split(), "--no-such-option"])
    assert f"lamina {command}: No such option: --no-such-option" in line


@pytest.mark.parametrize("command", sorted(BAD_INPUT))
def test_a_bad_config_or_run_folder_is_one_error_line(command: str, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_CONFIG)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(BAD_CONFIG)
    plain = tmp_path / "plain.csv"
    plain.write_text("a\n1\n")
    names = {CONFIG: str(config), RUN: str(run), FILE: str(plain)}
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    line = one_error_line([*command.split(), *(names.get(a, a) for a in BAD_INPUT[command])])
    if CONFIG in BAD_INPUT[command] or (RUN in BAD_INPUT[command] and command not in ("diagnose", "compare")):
        assert "trian is not a known field. Did you mean 'train'?" in line
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, "nothing was written"


@pytest.mark.parametrize("config", ["task: language_model\ndata: {path: text.txt}\n",
                                    "data: {path: images, masks: masks}\nmodel: {arch: unet}\n"])
def test_remedy_on_a_family_it_cannot_retrain_is_refused_before_anything_runs(config: str, tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(config, encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(path), "--remedy"])
    assert result.exit_code == 2 and result.output.startswith("error: --remedy retrains a supervised run")
    assert not (tmp_path / "runs").exists()
