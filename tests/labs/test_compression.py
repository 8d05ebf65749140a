"""Lab 11 in quick mode: some compressed model is 3x smaller and 2x faster within a point of the teacher."""

from __future__ import annotations

from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_a_compressed_model_is_smaller_faster_and_nearly_as_accurate(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("compression")
    assert result.verdict == "CONFIRMED", result.margin
    rows = {row["model"]: row for row in result.table}
    teacher = rows["original [512, 512]"]
    assert teacher["accuracy"] > 0.93 and teacher["x smaller"] == 1.0
    # int8 stores one byte per weight instead of four (scales and float biases make it a little under 4x)
    assert 3.5 < rows["dynamic int8"]["x smaller"] <= 4.0 and 3.5 < rows["static int8"]["x smaller"] <= 4.0
    assert abs(rows["dynamic int8"]["change (points)"]) < 1.5
    # structured pruning shrinks the matrices; unstructured only zeroes weights, so the dense file keeps its size
    unstructured = rows["unstructured prune 80%"]
    assert unstructured["x smaller"] == 1.0 and unstructured["nonzero"] < 0.25 * teacher["nonzero"]
    assert rows["distilled student [64]"]["x smaller"] > 30
    assert "alone" not in result.margin.split(";")[0]  # the student trained alone is a reference, never a pass
    assert result.numbers["passing_models"] >= 1 and result.numbers["best_accuracy_change"] > -1.0
    assert (result.folder / "accuracy_size_latency.png").read_bytes().startswith(b"\x89PNG")
