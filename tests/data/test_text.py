"""Text CSV data: tokenizers, a vocabulary fitted on train only and saved with the run, unknowns, padding, truncation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from lamina.config import DataSpec, TextSpec, parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.data.preprocess import Preprocessor
from lamina.data.readers import read_csv
from lamina.data.text import encode_texts, fit_text, tokenize
from lamina.errors import ConfigError, DataError, ShapeError
from lamina.nn.build import build_model


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "label"])
        writer.writerows(rows)
    return path


ROWS = [(f"{'good' if i % 2 else 'bad'} film number{i}", "pos" if i % 2 else "neg") for i in range(40)]


def test_word_and_char_tokenizers() -> None:
    assert tokenize("Not GOOD, really!", {"kind": "word"}) == ["not", "good", ",", "really", "!"]
    assert tokenize("Ab c", {"kind": "char", "lowercase": False}) == ["A", "b", " ", "c"]


def test_vocabulary_comes_from_training_rows_only(tmp_path: Path) -> None:
    table = read_csv(_write(tmp_path / "t.csv", ROWS))
    train = np.arange(20)
    vocab, tokenizer, length = fit_text(table, TextSpec(column="review"), train)
    assert vocab[:2] == ["<pad>", "<unk>"] and "number5" in vocab and "number30" not in vocab
    assert length == 3
    ids = encode_texts(["good film number30 extra words", "bad"], vocab, tokenizer, 4)
    assert ids[0].tolist() == [vocab.index("good"), vocab.index("film"), 1, 1]  # unknowns, truncated to 4
    assert ids[1].tolist() == [vocab.index("bad"), 0, 0, 0]  # padded at the end


def test_text_csv_prepares_token_ids_and_round_trips_the_vocabulary(tmp_path: Path) -> None:
    spec = DataSpec(path=str(_write(tmp_path / "t.csv", ROWS)), target="label",
                    text={"column": "review", "tokenizer": "char", "max_length": 12})
    data = prepare_data(spec)
    assert data.input_shape == (12,) and data.train.x.dtype.is_floating_point is False
    assert data.vocab == len(data.preprocessor.inputs.vocab) and data.task == "binary"
    saved = Preprocessor.from_json(data.preprocessor.to_json(), "test")
    again = prepare_data(spec, fitted=saved)
    assert np.array_equal(again.test.x.numpy(), data.test.x.numpy())


def test_min_count_and_max_vocab_send_rare_tokens_to_unknown(tmp_path: Path) -> None:
    table = read_csv(_write(tmp_path / "t.csv", ROWS))
    vocab, _, _ = fit_text(table, TextSpec(column="review", min_count=2), np.arange(40))
    assert set(vocab) == {"<pad>", "<unk>", "good", "bad", "film"}
    small, _, _ = fit_text(table, TextSpec(column="review", max_vocab=4), np.arange(40))
    assert small == ["<pad>", "<unk>", "film", "bad"]


def test_text_errors_name_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", ROWS)
    with pytest.raises(DataError, match="has no text column .data.text.column. 'reviw'. Did you mean 'review'"):
        prepare_data(DataSpec(path=str(path), target="label", text={"column": "reviw"}))
    with pytest.raises(ConfigError, match="data.text reads a CSV file: set data.path"):
        parse_run_spec({"data": {"dataset": "iris", "text": {"column": "x"}}, "model": {"arch": "mlp"}})


def test_text_model_on_numeric_data_and_numeric_model_on_text_are_refused(tmp_path: Path) -> None:
    text = parse_run_spec({"data": {"dataset": "iris"}, "model": {"arch": "sequence", "cell": "gru"}})
    with pytest.raises(ShapeError, match=r"takes integer token ids, but the data gives numeric features of shape \(4,\)"):
        build_model(text.model, (4,), 3, vocab=None)
    numeric = parse_run_spec({"data": {"dataset": "iris"}, "model": {"arch": "mlp"}})
    data = prepare_data(DataSpec(path=str(_write(tmp_path / "t.csv", ROWS)), target="label", text={"column": "review"}))
    with pytest.raises(ShapeError, match=r"the data gives token ids \(a vocabulary of \d+\), but model.arch 'mlp' layers"):
        build_model(numeric.model, data.input_shape, data.n_outputs, vocab=data.vocab)


def test_minilm_tokenizer_fits_a_length_and_travels_in_preprocess_json(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", [("The striker scored.", "a"), ("Knead the dough for ten minutes.", "b")])
    spec = TextSpec(column="review", tokenizer="minilm")
    vocab, tokenizer, length = fit_text(read_csv(path), spec, np.array([0, 1]))
    ids = encode_texts(["The striker scored."], vocab, tokenizer, length)
    assert vocab == [] and tokenizer["vocab_size"] == 30522 and length == 10  # [CLS] 8 pieces [SEP]
    assert ids[0, 0] == 101 and ids[0, -1] == 0 and (ids[0] == 102).sum() == 1  # [CLS] ... [SEP] then [PAD]
    data = prepare_data(parse_run_spec({"data": {"path": str(path), "target": "label", "text": spec.model_dump(),
                                                 "split": {"val": 0.0, "test": 0.0}},
                                        "model": {"arch": "mlp"}}).data)
    saved = Preprocessor.from_json(data.preprocessor.to_json(), "preprocess.json")  # no package needed again
    assert np.array_equal(saved.inputs.transform_table(read_csv(path))[data.train.rows], data.train.x.numpy())
    with pytest.raises(ConfigError, match="at most 256"):
        fit_text(read_csv(path), TextSpec(column="review", tokenizer="minilm", max_length=300), np.array([0]))
