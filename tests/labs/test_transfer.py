"""Lab 10 in quick mode: fine-tuning the 0-4 network beats scratch at one label per class, and the gain fades."""

from __future__ import annotations

from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_fine_tuning_beats_scratch_with_one_label_and_the_gain_fades(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("transfer")
    assert result.verdict == "CONFIRMED", result.margin
    rows = {row["labels per class"]: row for row in result.table}
    assert sorted(rows) == [1, 5, 20]
    assert rows[1]["gain (points)"] > 0.0  # seeds 0-2 (one thread): +4.4, +1.7, +1.8 over 12 draws
    assert rows[20]["gain (points)"] < rows[1]["gain (points)"] / 2
    assert rows[20]["scratch %"] > 90 and rows[20]["fine-tuned %"] > 90  # both learn 5-9 with enough labels
    assert result.numbers["source_accuracy"] > 0.95
    assert (result.folder / "accuracy_vs_labels.png").read_bytes().startswith(b"\x89PNG")
