"""Lab 7 confirms its claim in quick mode: PGD flips confident digits, adversarial training restores robustness."""

from __future__ import annotations

from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_attack_flips_confident_digits_and_adversarial_training_resists(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("adversarial")
    assert result.verdict == "CONFIRMED", result.margin
    rows = {row["model"]: row for row in result.table}
    standard, robust = rows["standard"], rows["adversarially trained"]
    assert standard["clean accuracy"] > 0.9 and robust["clean accuracy"] > 0.9
    assert standard["clean accuracy"] - standard["PGD eps 0.1"] > 0.3  # measured 0.964 -> 0.474
    assert robust["PGD eps 0.1"] - standard["PGD eps 0.1"] > 0.15  # measured 0.735 vs 0.474
    assert standard["PGD eps 0.2"] < 0.1  # a larger budget breaks the standard model almost completely
    assert result.numbers["flipped_confident"] >= 1
    assert result.numbers["example_clean_confidence"] >= 0.9
    assert (result.folder / "adversarial_example.png").read_bytes().startswith(b"\x89PNG")
