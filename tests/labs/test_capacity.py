"""Lab 4 confirms its claim in quick mode: narrow MLPs underfit, the widest overfits, the remedies narrow its gap."""

from __future__ import annotations

from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_capacity_sweep_goes_from_underfitting_to_overfitting(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("capacity")
    rows = {row["model"]: row for row in result.table}
    # a fifth of the labels are wrong; seeds 0-2 (one thread) measured width 1 at 11-25% training accuracy,
    # width 1024 at 92-100% training accuracy (it learned wrong labels) with 32-37 points lost on validation
    assert rows["width 1"]["train accuracy"] < 0.5 and rows["width 1"]["val accuracy"] < 0.5
    assert rows["width 1024"]["train accuracy"] >= 0.85
    assert rows["width 1024"]["accuracy gap"] > 0.15
    assert rows["width 1024"]["loss gap"] > 1.0  # measured 2.26-2.46
    assert (result.folder / "capacity_sweep.png").read_bytes().startswith(b"\x89PNG")


def test_remedies_narrow_the_overfitting_gap(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("capacity")
    assert result.verdict == "CONFIRMED", result.margin
    baseline = next(row for row in result.table if row["model"] == "width 1024 + no remedy")
    assert baseline["loss gap"] == next(row for row in result.table if row["model"] == "width 1024")["loss gap"]
    remedies = [row for row in result.table if row["model"].startswith("width 1024 + ") and row is not baseline]
    assert len(remedies) == 4
    narrowed = [row for row in remedies if row["loss gap"] <= 0.8 * baseline["loss gap"]]
    assert len(narrowed) >= 3 and result.numbers["remedies_narrowing"] == len(narrowed)  # measured 4 of 4, <= 0.59
    augmented = next(row for row in remedies if "augmentation" in row["model"])
    assert augmented["accuracy gap"] < baseline["accuracy gap"]
    assert (result.folder / "remedies.png").read_bytes().startswith(b"\x89PNG")
