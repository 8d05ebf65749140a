"""The demo run reaches the accuracy the README promises, and its diagnosis (on by default) raises no false alarm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.demo import demo_spec
from lamina.trainer import train


@pytest.mark.slow
def test_demo_cnn_reaches_98_percent_on_digits(tmp_path: Path) -> None:
    run = train(demo_spec(str(tmp_path)), progress="none")
    summary = json.loads(run.folder.summary.read_text())
    assert summary["samples"]["test"] == 359
    assert summary["test"]["accuracy"] >= 0.98
    assert summary["epochs_run"] == 30
    diagnosis = json.loads((run.folder.root / "diagnosis.json").read_text())
    assert diagnosis["healthy"], [f["message"] for f in diagnosis["findings"]]
    assert diagnosis["samples"] >= 20
    assert (run.folder.root / "report.html").is_file()
