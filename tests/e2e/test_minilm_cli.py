"""`model.backbone: {pretrained: minilm}` through `lamina train`, `evaluate` and `predict` on the shipped topic set.

Must-show: with 20 labelled texts per topic (50 texts per topic of examples/data/topics.csv, split 80 train /
120 test), the frozen
MiniLM backbone beats a model trained from scratch on the same rows by >= 15 points. The scratch model is the
text_csv example's GRU on word tokens: the literally same architecture from random weights (the MiniLM chain
as model.layers) learns nothing here and costs minutes (25.9% in benchmarks/minilm_topics.py), so the test
uses the stronger and cheaper scratch model. The run folder is self-sufficient: evaluate and predict work
with the text extra hidden; training without it stops with one error line naming the extra.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

import lamina.nn.minilm
from lamina.cli import app
from lamina.nn.minilm import pretrained_weights

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
runner = CliRunner()


def _subset(tmp_path: Path, per_topic: int) -> Path:
    """The first ``per_topic`` texts of each topic of topics.csv (the MiniLM forward is the test's cost)."""
    with (DATA / "topics.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    seen: Counter[str] = Counter()
    kept = []
    for row in rows:
        seen[row["topic"]] += 1
        if seen[row["topic"]] <= per_topic:
            kept.append(row)
    path = tmp_path / "topics.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "topic"])
        writer.writeheader()
        writer.writerows(kept)
    return path


def _config(tmp_path: Path, name: str, model: dict, train: dict, data: Path) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "seed": 0, "runs_dir": str(tmp_path / "runs"),
        "data": {"path": str(data), "target": "topic", "text": {"column": "text"},
                 "split": {"val": 0.0, "test": 0.6, "seed": 0}},  # of 50 per topic: 20 train, 30 test
        "model": model, "train": {"batch_size": 16, "tensorboard": False, **train}}))
    return path


def _test_accuracy(run: Path) -> float:
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    with (run / "predictions" / "test.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 120
    return sum(r["topic"] == r["true"] for r in rows) / len(rows)


@pytest.mark.slow
def test_minilm_backbone_beats_scratch_at_20_labels_per_topic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _subset(tmp_path, 50)
    frozen = _config(tmp_path, "frozen", {"backbone": {"pretrained": "minilm", "freeze": True}},
                     {"epochs": 10, "optimizer": {"lr": 0.05}}, data)
    scratch = _config(tmp_path, "scratch", {"arch": "sequence", "cell": "gru", "embed_dim": 32, "units": 32},
                      {"epochs": 40, "optimizer": {"lr": 0.003}}, data)
    for config in (frozen, scratch):
        result = runner.invoke(app, ["train", str(config), "--progress", "none"])
        assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "runs" / "frozen" / "config.yaml").read_text())
    assert saved["data"]["text"]["tokenizer"] == "minilm" and len(saved["model"]["backbone"]["layers"]) == 9

    monkeypatch.setattr(lamina.nn.minilm, "find_spec", lambda name: None)  # the text extra, as if uninstalled
    transfer, baseline = _test_accuracy(tmp_path / "runs" / "frozen"), _test_accuracy(tmp_path / "runs" / "scratch")
    assert transfer >= baseline + 0.15, (transfer, baseline)  # measured 1.000 vs 0.525 (seed 0)
    assert transfer >= 0.9
    predicted = runner.invoke(app, ["predict", str(tmp_path / "runs" / "frozen"), str(DATA / "topics_new.csv")])
    assert predicted.exit_code == 0, predicted.output
    assert len(predicted.output.strip().splitlines()) == 9  # header and the 8 new texts

    again = runner.invoke(app, ["train", str(frozen), "--progress", "none"])
    assert again.exit_code == 2 and again.output.startswith("error:")
    assert "pip install 'lamina[text]'" in again.output and len(again.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_gradual_unfreezing_releases_the_top_block_first(tmp_path: Path) -> None:
    config = _config(tmp_path, "unfreeze", {"backbone": {"pretrained": "minilm", "unfreeze_every": 1}},
                     {"epochs": 2, "optimizer": {"lr": 0.01},
                      "lr_groups": [{"layers": "backbone", "scale": 0.01}]}, DATA / "topics_support.csv")
    result = runner.invoke(app, ["train", str(config), "--set", "data.split.test=0.2", "--progress", "none"])
    assert result.exit_code == 0, result.output
    trained, packaged = load_file(str(tmp_path / "runs" / "unfreeze" / "model.safetensors")), pretrained_weights()
    changed = {k.split(".")[1] for k, v in packaged.items() if not (trained[k] == v).all()}
    assert changed == {"6"}  # epoch 0: all frozen; epoch 1: only the top group (block 6) released


@pytest.mark.slow
def test_text_regression_on_the_minilm_backbone(tmp_path: Path) -> None:
    score = {"sports": 1.0, "cooking": 2.0, "technology": 3.0, "weather": 4.0}  # a number the topic decides
    rows = list(csv.DictReader(_subset(tmp_path, 25).open(newline="", encoding="utf-8")))
    path = tmp_path / "scores.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "score"])
        writer.writerows((r["text"], score[r["topic"]] + 0.1 * (i % 3 - 1)) for i, r in enumerate(rows))
    config = tmp_path / "regress.yaml"
    config.write_text(yaml.safe_dump({
        "name": "regress", "seed": 0, "runs_dir": str(tmp_path / "runs"),
        "data": {"path": str(path), "target": "score", "text": {"column": "text"},
                 "split": {"val": 0.0, "test": 0.5, "seed": 0}},
        "model": {"backbone": {"pretrained": "minilm"}, "layers": [{"dense": 64}, "relu", {"dense": 1}]},
        "train": {"epochs": 12, "batch_size": 16, "optimizer": {"lr": 0.01}, "tensorboard": False}}))
    result = runner.invoke(app, ["train", str(config), "--progress", "none"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "runs" / "regress" / "evaluation.json").read_text())["metrics"]
    assert metrics["r2"] > 0.7, metrics  # the mean of the training targets scores r2 <= 0


def test_the_example_config_names_the_pretrained_backbone() -> None:
    from lamina.config import load_config

    spec = load_config(DATA.parent / "language" / "topics_minilm.yaml")
    assert spec.model.backbone.pretrained == "minilm" and spec.data.text.tokenizer == "minilm"
    assert (DATA.parent.parent / spec.data.path).is_file()
