"""Lab 5 confirms its claim in quick mode: the plain RNN loses the token as the distance grows, LSTM and GRU keep it."""

from __future__ import annotations

from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_plain_rnn_forgets_with_distance_and_gated_cells_remember(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("memory")
    assert result.verdict == "CONFIRMED", result.margin
    nearest, farthest = result.table[0], result.table[-1]
    assert nearest["distance"] < farthest["distance"]
    assert farthest["rnn"] <= 0.4  # chance is 0.25
    assert nearest["rnn"] >= farthest["rnn"] + 0.3
    assert farthest["lstm"] >= 0.9 and farthest["gru"] >= 0.9
    assert (result.folder / "accuracy_by_distance.png").read_bytes().startswith(b"\x89PNG")
