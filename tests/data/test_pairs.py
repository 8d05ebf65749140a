"""Paired sequences: builtin reversal and sorting sets, CSV pairs, encoding for teacher forcing, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lamina.config import parse_run_spec
from lamina.data.pairs import BOS, EOS, PAD, UNK, decode_ids, reverse, sort
from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError, DataError


def _data(**data):
    return prepare_data(parse_run_spec({"data": data, "model": {"arch": "seq2seq"}}).data)


def test_builtin_sets_pair_each_distinct_string_with_its_reversal_or_sorting() -> None:
    rev, srt = reverse(), sort()
    assert len(set(rev.sources)) == len(rev.sources) == 3000
    assert all(len(s) == 10 and t == s[::-1] for s, t in zip(rev.sources, rev.targets))
    assert all(t == "".join(sorted(s)) for s, t in zip(srt.sources, srt.targets))


def test_inputs_hold_the_source_then_the_target_shifted_right_and_labels_end_in_eos() -> None:
    data = _data(dataset="reverse")
    assert data.input_shape == (21,) and data.output_shape == (11, 14)  # 10 + 1 steps; 4 specials + 10 digits
    vocab = data.preprocessor.target.classes
    x, y = data.train.x[0], data.train.y[0]
    source, decoder_in = x[:10], x[10:]
    assert decode_ids(y.tolist(), vocab) == decode_ids(source.tolist(), vocab)[::-1]
    assert int(y[-1]) == EOS and int(decoder_in[0]) == BOS
    assert torch.equal(decoder_in[1:], y[:-1])  # teacher forcing: step t reads the true token t - 1
    train_sources = {tuple(r[:10].tolist()) for r in data.train.x}
    assert not any(tuple(r[:10].tolist()) in train_sources for r in data.test.x)  # test sequences are unseen


def _csv(tmp_path: Path, rows: list[tuple[str, str]], header: str = "word,answer") -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text(header + "\n" + "\n".join(f"{a},{b}" for a, b in rows) + "\n")
    return path


def test_csv_pairs_take_their_vocabulary_and_lengths_from_training_rows(tmp_path: Path) -> None:
    words = ["cat", "horse", "ox", "zebra", "eel", "bee", "dog", "hen", "owl", "yak"] * 4 + ["q" * 12]
    path = _csv(tmp_path, [(w, w.upper()) for w in words])
    data = _data(path=str(path), target="answer", task="seq2seq", split={"val": 0.0, "test": 0.1, "seed": 4})
    target = data.preprocessor.target
    assert target.task == "seq2seq" and target.names == ["answer"]
    assert data.preprocessor.inputs.tokenizer["source"] == "word"
    train_text = {ch for r in data.train.rows for ch in words[r] + words[r].upper()}
    assert set(target.classes[4:]) == train_text  # built on training rows only
    longest = max(len(words[r]) for r in data.train.rows)
    assert target.length == longest + 1 and data.input_shape == (longest + longest + 1,)
    assert len(words) - 1 in data.test.rows.tolist() and "q" not in train_text  # seed 4 puts the long row in test
    row = data.test.rows.tolist().index(len(words) - 1)
    assert set(data.test.x[row, :longest].tolist()) == {UNK}  # unseen letters read as <unk>, cut to length


def test_csv_pairs_reject_ambiguous_or_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "three.csv"
    path.write_text("a,b,c\nx,y,z\nxx,yy,zz\n")
    with pytest.raises(DataError, match=r"exactly one source column besides the target 'c'; found \['a', 'b'\]"):
        _data(path=str(path), target="c", task="seq2seq")
    with pytest.raises(DataError, match="row 3: target column 'answer' is empty"):
        _data(path=str(_csv(tmp_path, [("ab", "ba"), ("cd", "")])), target="answer", task="seq2seq")
    with pytest.raises(ConfigError, match="dataset 'iris' is not a pair set"):
        _data(dataset="iris", task="seq2seq")


def test_decode_ids_stops_at_eos_and_skips_padding() -> None:
    vocab = ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b"]
    assert decode_ids([BOS, 4, 5, PAD, 4, EOS, 5], vocab) == "aba"
    assert decode_ids([4, UNK], vocab) == "a<unk>"
