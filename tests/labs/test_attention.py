"""Lab 6 confirms its claim in quick mode: the LSTM without attention collapses with length, attention holds."""

from __future__ import annotations

from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_lstm_without_attention_collapses_with_length_and_attention_holds(
        lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("attention")
    assert result.verdict == "CONFIRMED", result.margin
    lengths = sorted({row["length"] for row in result.table})
    score = {(row["model"], row["length"]): row for row in result.table}
    shortest, longest = lengths[0], lengths[-1]
    assert score["lstm", shortest]["exact match"] >= 0.8
    assert score["lstm", longest]["exact match"] <= 0.1
    assert score["transformer", longest]["exact match"] >= score["lstm", longest]["exact match"] + 0.5
    assert score["lstm+attention", longest]["token accuracy"] >= score["lstm", longest]["token accuracy"] + 0.2
    assert (result.folder / "accuracy_by_length.png").read_bytes().startswith(b"\x89PNG")
