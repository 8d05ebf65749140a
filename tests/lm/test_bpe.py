"""BPE language model: trains on a Shakespeare slice past its unigram baseline, round-trips text, generates from its run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lamina.cli import app
from lamina.errors import ConfigError, RunFolderError
from lamina.lm.config import parse_lm_spec
from lamina.lm.corpus import load_corpus, tiled_windows
from lamina.lm.generate import generate_text, load_language_run
from lamina.lm.tokenize import BPETokenizer
from lamina.lm.train import mean_loss, train_lm
from tests.conftest import SHAKESPEARE, shakespeare_slice

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small BPE GPT (384 ids) trained briefly on the first 80k characters of tinyshakespeare."""
    folder = tmp_path_factory.mktemp("bpe")
    text = shakespeare_slice(folder, 80_000)
    config = {"task": "language_model", "name": "bpe", "runs_dir": str(folder / "runs"),
              "data": {"path": str(text), "val": 0.1, "tokenizer": "bpe", "vocab_size": 384},
              "model": {"layers": 2, "heads": 2, "width": 64, "context": 32},
              "train": {"steps": 150, "batch_size": 32, "eval_every": 75, "threads": 1,
                        "optimizer": {"name": "adamw", "lr": 0.004, "weight_decay": 0.1, "betas": [0.9, 0.99]}}}
    return train_lm(config, progress="none")


def test_bpe_model_beats_its_unigram_baseline(trained: Path) -> None:
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["tokens"]["vocab"] == 384
    assert summary["val"]["loss"] < summary["unigram_val_loss"] - 0.4
    assert summary["val"]["bits_per_char"] < summary["unigram_bits_per_char"] - 0.3
    lines = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["val_loss"] < lines[0]["val_loss"]


def test_bits_per_char_are_normalized_by_characters(trained: Path) -> None:
    run = load_language_run(trained)
    corpus = load_corpus(run.spec.data.path, 0.1, 32, fitted=run.tokenizer)
    x, y = tiled_windows(corpus.val, 32)
    chars = len(run.tokenizer.decode(y.flatten()))
    assert chars > 1.5 * y.numel()  # merges: a token spells well over one character on average
    summary = json.loads((trained / "summary.json").read_text())
    loss = mean_loss(run.model, x, y)
    assert loss == pytest.approx(summary["val"]["loss"], rel=1e-5)  # the saved run is the trained model
    assert summary["val"]["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    assert summary["val"]["bits_per_char"] == pytest.approx(loss * y.numel() / chars / math.log(2), rel=1e-5)


def test_saved_tokenizer_round_trips_any_text(trained: Path) -> None:
    json.loads((trained / "tokenizer.json").read_text(encoding="utf-8"))  # the library's JSON, not a pickle
    assert json.loads((trained / "preprocess.json").read_text())["tokenizer"] == "bpe"
    tokenizer = load_language_run(trained).tokenizer
    validation = SHAKESPEARE.read_text(encoding="utf-8")[72_000:80_000]
    ids = tokenizer.encode(validation)
    assert tokenizer.decode(ids) == validation and len(ids) < 0.7 * len(validation)
    unseen = "  Déjà vu: 日本\ttabs\n\nand blank lines "
    assert tokenizer.decode(tokenizer.encode(unseen)) == unseen


def test_generates_from_the_saved_run(trained: Path) -> None:
    texts = generate_text(trained, "ROMEO:", tokens=25, temperature=0.8, top_k=20, samples=2, seed=3)
    assert len(texts) == 2 and all(t.startswith("ROMEO:") and len(t) > 6 + 25 for t in texts)
    result = CliRunner().invoke(app, ["generate", str(trained), "--prompt", "KING", "--tokens", "20"])
    assert result.exit_code == 0 and result.output.startswith("KING")


def test_a_broken_tokenizer_file_is_named(trained: Path, tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="tokenizer.json is not a tokenizers JSON file"):
        BPETokenizer.read(tmp_path / "tokenizer.json")
    with pytest.raises(RunFolderError, match="tokenizer.json is missing"):
        BPETokenizer.read(tmp_path / "elsewhere" / "tokenizer.json")


def test_vocab_size_belongs_to_bpe() -> None:
    with pytest.raises(ConfigError, match="data.vocab_size applies to data.tokenizer 'bpe' only"):
        parse_lm_spec({"task": "language_model", "data": {"path": "t.txt", "vocab_size": 500}})
    assert parse_lm_spec({"task": "language_model", "data": {"path": "t.txt", "tokenizer": "bpe"}}).data.vocab_size == 1024
    with pytest.raises(ConfigError, match="vocab_size"):
        parse_lm_spec({"task": "language_model", "data": {"path": "t.txt", "tokenizer": "bpe", "vocab_size": 100}})
