"""The user's preference pairs: one clear error naming the file, line and field for every kind of bad line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lamina.errors import DataError
from lamina.lm.pairs import Pair, pair_tensors, read_pairs, write_pairs
from lamina.lm.tokenize import CharTokenizer

GOOD = json.dumps({"prompt": "the cat was ", "chosen": "merry.", "rejected": "grim."})


@pytest.mark.parametrize(("line", "expected"), [
    ("{not json", "line 2 is not valid JSON"),
    ("[1, 2]", "line 2 must be a JSON object"),
    (json.dumps({"prompt": "a", "chosen": "b"}), "line 2 has no 'rejected' key"),
    (json.dumps({"prompt": "a", "chosen": 3, "rejected": "c"}), "line 2 field 'chosen' must be a string; got int"),
    (json.dumps({"prompt": "a", "chosen": "b", "rejected": "  "}), "line 2 field 'rejected' must not be empty"),
    (json.dumps({"prompt": "", "chosen": "b", "rejected": "c"}), "line 2 field 'prompt' must not be empty"),
    (json.dumps({"prompt": "a", "chosen": "b", "rejected": "c", "score": 1}), "line 2 has unknown key 'score'"),
    (json.dumps({"prompt": "a", "chosen": "b", "rejected": "b"}), "line 2: 'chosen' and 'rejected' are the same"),
])
def test_a_bad_line_is_one_error_naming_its_number_and_field(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(GOOD + "\n" + line + "\n" + GOOD + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="preference.pairs .*pairs.jsonl " + expected.replace("[", r"\[")) as info:
        read_pairs(path)
    assert "\n" not in str(info.value)


def test_empty_missing_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no pairs"):
        read_pairs(empty)
    with pytest.raises(DataError, match="does not exist"):
        read_pairs(tmp_path / "absent.jsonl")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="not UTF-8"):
        read_pairs(binary)


def test_pairs_round_trip_and_pack_into_padded_ids_with_lengths(tmp_path: Path) -> None:
    pairs = [Pair("ab", "c", "ba"), Pair("b", "aab", "c")]
    write_pairs(tmp_path / "p.jsonl", pairs)
    assert read_pairs(tmp_path / "p.jsonl") == pairs
    tokenizer = CharTokenizer.fit("abc\n")
    ids, lengths = pair_tensors(pairs, tokenizer, context=8)
    assert ids.shape == (2, 2, 5) and lengths.tolist() == [[2, 4, 5], [1, 5, 3]]
    assert tokenizer.decode(ids[1, 0]) == "baab\n" and tokenizer.decode(ids[0, 0, :4]) == "abc\n"
    assert torch.equal(ids[1, 1, 3:], torch.zeros(2, dtype=torch.long))  # padded after the end
    with pytest.raises(DataError, match="pair 1: prompt \\+ rejected is 5 tokens; .* at most model.context \\+ 1 = 4"):
        pair_tensors(pairs, tokenizer, context=3)
    with pytest.raises(DataError, match="pair 1 field 'chosen'"):
        pair_tensors([Pair("ab", "z", "c")], tokenizer, context=8)
