"""Every lab runs once per test session in quick mode; its test and the combined page share that result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lamina.labs.catalog import LabResult, run_lab


@pytest.fixture(scope="session")
def labs_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("labs")


@pytest.fixture(scope="session")
def lab_result(labs_out: Path) -> Callable[[str], LabResult]:
    """Run a lab in quick mode the first time it is asked for; later asks get the same result."""
    done: dict[str, LabResult] = {}

    def get(name: str) -> LabResult:
        if name not in done:
            done[name] = run_lab(name, labs_out, quick=True, seed=0, progress="none")
        return done[name]

    return get
