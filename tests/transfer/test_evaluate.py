"""``lamina evaluate`` on pretraining run folders: the pretext loss on the held-out test inputs, again."""

from __future__ import annotations

import json

import pytest

from lamina.config import parse_run_spec
from lamina.evaluate.run import evaluate_run, run_kind
from lamina.transfer.selfsup import pretrain


@pytest.mark.parametrize("method", ["simclr", "denoise"])
def test_evaluate_rescores_the_pretext_loss_on_held_out_inputs_and_the_report_shows_it(tmp_path, method) -> None:
    folder = pretrain(parse_run_spec({"name": method, "runs_dir": str(tmp_path), "seed": 0, "data": {"dataset": "iris"},
                                      "model": {"arch": "mlp", "hidden": [4]},
                                      "train": {"epochs": 2, "selfsup": {"method": method}}}), progress="none")
    record = json.loads((folder.root / "pretrain.json").read_text())
    report = evaluate_run(folder.root)
    assert run_kind(folder) == "pretraining" and report["samples"] == record["test_samples"] > 0
    assert report["metrics"]["test_pretext_loss"] == pytest.approx(record["test_pretext_loss"], abs=1e-6)
    assert method in report["scored"] and "held-out" in report["scored"]
    page = (folder.root / "report.html").read_text()
    assert "figures/learning_curves.png" in page and f"{record['test_pretext_loss']:.4f}" in page
    assert (folder.root / "figures" / "learning_curves.png").stat().st_size > 1000
