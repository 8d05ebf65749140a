"""Lab 12 confirms its claim in quick mode: the DCGAN collapses onto a class or two; minibatch std keeps most."""

from __future__ import annotations

import math
from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_dcgan_collapses_and_minibatch_std_restores_coverage(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("gan_collapse")
    assert result.verdict == "CONFIRMED", result.margin
    plain, remedy = result.table
    assert plain["GAN"] == "DCGAN" and remedy["GAN"] == "DCGAN + minibatch std"
    assert plain["final classes covered"] <= 3 and plain["mean covered, 2nd half"] <= 3  # measured 1 and 1.4
    assert remedy["final classes covered"] >= 7 and remedy["mean covered, 2nd half"] >= 6  # measured 10 and 8.2
    assert plain["final entropy"] < 0.35 * math.log(10) < 0.75 * math.log(10) < remedy["final entropy"]
    assert plain["judge accuracy"] > 0.9
    assert (result.folder / "coverage.png").read_bytes().startswith(b"\x89PNG")
