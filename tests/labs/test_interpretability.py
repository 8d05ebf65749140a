"""Lab 9 confirms its claim in quick mode: Grad-CAM and signed IG pass the randomization check, |IG| fails it."""

from __future__ import annotations

from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_randomized_weights_change_gradcam_and_ig_but_not_abs_ig(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("interpretability")
    assert result.verdict == "CONFIRMED", result.margin
    rows = {row["method"]: row for row in result.table}
    for method in ("Grad-CAM", "integrated gradients"):  # measured rho -0.06 and 0.01 against 0.36 and 0.39
        assert abs(rows[method]["trained vs randomized"]) < 0.2
        assert rows[method]["trained vs other seed"] > rows[method]["trained vs randomized"] + 0.2
        assert rows[method]["changes with the weights"] is True
    assert rows["|integrated gradients|"]["trained vs randomized"] > 0.7  # measured 0.91: the input's shape
    assert result.numbers["ig_rerun_agreement"] > 0.95
    assert result.numbers["test_accuracy"] > 0.9
    assert (result.folder / "sanity_check.png").read_bytes().startswith(b"\x89PNG")
