"""lamina compare: runs whose data, split or seed differ are still shown, with a warning naming the difference."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from lamina.cli import app
from lamina.report.compare import compare_runs


def _finished_run(root: Path, name: str, seed: int = 0, split_seed: int = 0, dataset: str = "digits") -> Path:
    """A run folder holding what compare reads: config.yaml, summary.json and metrics.jsonl."""
    folder = root / name
    folder.mkdir(parents=True)
    config = {"name": name, "seed": seed, "data": {"dataset": dataset, "split": {"val": 0.15, "test": 0.2, "seed": split_seed}},
              "model": {"arch": "mlp"}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {"name": name, "params": 1000, "epochs_run": 2, "train_seconds": 1.0, "monitor": "val_loss",
               "best_value": 0.3, "test": {"accuracy": 0.9}}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "train_loss": 1 / e, "val_loss": 1 / e}) + "\n"
                                                  for e in (1, 2)))
    return folder


def test_runs_on_different_splits_and_seeds_are_compared_with_a_warning_naming_each_difference(tmp_path: Path) -> None:
    a = _finished_run(tmp_path, "a")
    b = _finished_run(tmp_path, "b", seed=1, split_seed=3)
    notes = compare_runs([a, b], tmp_path / "cmp")["warnings"]
    assert len(notes) == 2, notes
    assert notes[0] == ("the runs' splits differ (a: data.split.seed=0; b: data.split.seed=3): "
                        "their test metrics come from different rows")
    assert notes[1] == "the runs' seeds differ (a: seed=0; b: seed=1): part of any difference may be the seed's luck"
    assert "warning:</strong> the runs&#x27; splits differ" in (tmp_path / "cmp" / "compare.html").read_text()

    other = _finished_run(tmp_path, "c", dataset="iris")
    result = CliRunner().invoke(app, ["compare", str(a), str(other), "--out", str(tmp_path / "cmp2")])
    assert result.exit_code == 0, result.output
    assert "warning: the runs' data differ (a: data.dataset=digits; c: data.dataset=iris)" in result.output


def test_runs_on_the_same_data_split_and_seed_are_compared_without_a_warning(tmp_path: Path) -> None:
    same = [_finished_run(tmp_path, "a"), _finished_run(tmp_path, "b")]
    assert compare_runs(same, tmp_path / "cmp")["warnings"] == []
