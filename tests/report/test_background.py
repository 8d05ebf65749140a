"""The report's figures are drawn by another process; whoever waits for them finds every one in figures/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lamina
from lamina.cli import app
from lamina.report.background import Figure, draw_in_background, wait_for_reports
from tests.conftest import quick_spec
from tests.report.test_html import PNG, _References


def images(page: Path) -> list[str]:
    parser = _References()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.images


def _write_pid(path: Path) -> None:
    path.write_text(str(os.getpid()))


def _fail(path: Path) -> None:
    raise ValueError("no data to plot")


def test_figures_are_drawn_in_another_process_and_a_failure_is_reported(tmp_path: Path,
                                                                        capfd: pytest.CaptureFixture) -> None:
    folder = tmp_path / "runs" / "r" / "figures"
    folder.mkdir(parents=True)
    draw_in_background([Figure("bad.png", _fail, ()), Figure("pid.txt", _write_pid, ())], folder)
    wait_for_reports()
    assert int((folder / "pid.txt").read_text()) != os.getpid()
    assert sorted(os.listdir(folder)) == ["pid.txt"] and os.listdir(tmp_path / "runs") == ["r"]  # no staging left
    assert f"warning: {folder / 'bad.png'} was not drawn: no data to plot" in capfd.readouterr().err


def test_fit_writes_the_page_and_the_figures_follow(tmp_path: Path) -> None:
    run = lamina.fit(quick_spec(tmp_path, train={"epochs": 3, "tensorboard": False}), progress="none")
    page = run.folder.root / "report.html"
    assert page.is_file() and len(images(page)) == 4  # learning curves, confusion matrix, gradient flow, activations
    lamina.wait_for_reports()
    for src in images(page):
        assert (run.folder.root / src).read_bytes().startswith(PNG), src
    assert sorted(os.listdir(run.folder.root / "figures")) == sorted(Path(src).name for src in images(page))
    assert os.listdir(run.folder.root.parent) == [run.folder.root.name]


def test_lamina_train_ends_with_the_whole_report(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps(quick_spec(tmp_path, train={"epochs": 2, "tensorboard": False})))  # JSON is YAML
    result = CliRunner().invoke(app, ["train", str(config), "--progress", "none"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "runs" / "t"
    sources = images(root / "report.html")
    assert len(sources) == 4 and all((root / src).read_bytes().startswith(PNG) for src in sources)
