"""Lab 1 confirms its claim in quick mode: the sigmoid stack's gradient vanishes and it stays at chance."""

from __future__ import annotations

from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_sigmoid_gradient_vanishes_and_the_remedies_learn(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("vanishing_gradients")
    assert result.verdict == "CONFIRMED", result.margin
    rows = {row["model"]: row for row in result.table}
    assert rows["sigmoid"]["first / last"] < 1e-3
    assert rows["sigmoid"]["test accuracy"] < 0.2  # chance is 0.1
    assert result.numbers["accuracy_gap"] > 0.3
    assert (result.folder / "gradient_norms.png").read_bytes().startswith(b"\x89PNG")
