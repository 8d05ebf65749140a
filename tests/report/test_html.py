"""report.html: every figure is a local file that exists (offline, no CDN), and it renders in headless Chromium."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lamina.explain.run import explain_run
from lamina.report.html import write_report
from lamina.runs import Run
from lamina.trainer import train
from tests.conftest import CHROMIUM_MISSING, CHROMIUM_REASON, images_loaded_in_chromium, quick_spec

PNG = b"\x89PNG\r\n\x1a\n"


class _References(HTMLParser):
    """Every URL the page would fetch: img/script src, link href."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.other: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img":
            self.images.append(found.get("src") or "")
        elif tag in ("script", "link", "iframe") and (found.get("src") or found.get("href")):
            self.other.append(found.get("src") or found.get("href") or "")


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("report")
    spec = quick_spec(tmp, data={"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
                      model={"arch": "cnn", "channels": [8, 16], "dense": [32]},
                      train={"epochs": 3, "batch_size": 64, "tensorboard": False})
    run = train(spec, progress="none")
    explain_run(run.folder.root, "gradcam", count=3)
    write_report(run.folder.root)
    return run


def test_report_images_are_local_files_that_exist(cnn_run: Run) -> None:
    root = cnn_run.folder.root
    parser = _References()
    parser.feed((root / "report.html").read_text(encoding="utf-8"))
    assert parser.other == []  # no scripts or stylesheets to fetch
    names = {Path(src).name for src in parser.images}
    assert {"learning_curves.png", "confusion_matrix.png", "gradient_flow.png", "activations.png", "attr_gradcam.png"} <= names
    for src in parser.images:
        assert not re.match(r"^[a-z]+:", src), f"{src} is not a relative path"
        assert (root / src).read_bytes().startswith(PNG), src


@pytest.mark.skipif(CHROMIUM_MISSING, reason=CHROMIUM_REASON + "; test_report_images_are_local_files_that_exist "
                                                      "still checks every image offline")
def test_report_renders_in_headless_chromium(cnn_run: Run, tmp_path: Path) -> None:
    images, loaded = images_loaded_in_chromium(cnn_run.folder.root / "report.html", tmp_path / "profile")
    assert images >= 4 and loaded == images
