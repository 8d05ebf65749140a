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
    # second-half means over seeds 0-2 (one thread): plain 1.3-1.4 classes, entropy 0.13-0.19;
    # minibatch std 7.7-8.2 classes, entropy 1.91-2.01 (of log 10 = 2.30)
    assert plain["mean covered, 2nd half"] <= 3 and remedy["mean covered, 2nd half"] >= 6
    assert plain["mean entropy, 2nd half"] < 0.2 * math.log(10) < 0.65 * math.log(10) < remedy["mean entropy, 2nd half"]
    assert plain["judge accuracy"] > 0.9
    assert (result.folder / "coverage.png").read_bytes().startswith(b"\x89PNG")
