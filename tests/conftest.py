"""Shared fixtures: small deterministic data files and quick run configs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch


TESTS = Path(__file__).resolve().parent
SHARED_SESSION_FOLDERS = {"labs", "compress"}  # their files share session fixtures (each lab once; two trained runs)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs one worker per core) each worker takes one core: one torch thread
    here and in the processes the tests start, so two workers do not fight over two cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests for ``--dist loadgroup``: a file's tests stay on one worker (its module fixtures run once), and
    so do the folders whose files share session fixtures."""
    for item in items:
        parts = Path(item.fspath).resolve().relative_to(TESTS).parts
        item.add_marker(pytest.mark.xdist_group(parts[0] if parts[0] in SHARED_SESSION_FOLDERS else "/".join(parts)))


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def tabular_csv(tmp_path: Path) -> Path:
    """A CSV with numeric and categorical features, a few missing cells and a 3-class text target."""
    rng = np.random.default_rng(0)
    n = 240
    size = rng.normal(10, 2, n)
    weight = rng.normal(50, 10, n)
    colour = rng.choice(["red", "green", "blue"], n)
    score = size * 2 + (colour == "red") * 6 + rng.normal(0, 1, n)
    label = np.where(score > 26, "high", np.where(score > 19, "mid", "low"))
    lines = ["size,weight,colour,label"]
    for i in range(n):
        s = "" if i % 37 == 5 else f"{size[i]:.3f}"
        c = "NA" if i % 41 == 7 else colour[i]
        lines.append(f"{s},{weight[i]:.3f},{c},{label[i]}")
    path = tmp_path / "table.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def quick_spec(tmp_path: Path, **sections) -> dict:
    """A small run config (plain data) writing into ``tmp_path``; sections override the defaults."""
    spec = {
        "name": "t",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"dataset": "iris"},
        "model": {"arch": "mlp", "hidden": [16]},
        "train": {"epochs": 3, "batch_size": 32, "tensorboard": False},
    }
    for key, value in sections.items():
        spec[key] = value
    return spec


CHROMIUM_MISSING = shutil.which("chromium") is None
CHROMIUM_REASON = "Debian's chromium package is not installed (apt-get install chromium)"
IMAGE_COUNTER = """<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  const loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  const out = document.createElement('pre');
  out.id = 'lamina-check';
  out.textContent = `images=${images.length} loaded=${loaded}`;
  document.body.appendChild(out);
});
</script></body>"""


def images_loaded_in_chromium(page: Path, profile: Path) -> tuple[int, int]:
    """Open a copy of ``page`` in headless Chromium; returns (images on the page, images that loaded)."""
    checked = page.with_name(page.stem + "_check.html")
    checked.write_text(page.read_text(encoding="utf-8").replace("</body>", IMAGE_COUNTER), encoding="utf-8")
    result = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", checked.as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.search(r"images=(\d+) loaded=(\d+)", result.stdout)
    assert found, result.stderr[-2000:]
    return int(found.group(1)), int(found.group(2))


SHAKESPEARE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"


def shakespeare_slice(folder: Path, characters: int) -> Path:
    """The first ``characters`` of ../shared/data/tinyshakespeare.txt as a text file in ``folder``."""
    text = folder / "shakespeare.txt"
    text.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:characters], encoding="utf-8")
    return text
