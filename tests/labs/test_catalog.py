"""Finding, running and reporting labs: names, errors, saved results, the combined page and the CLI."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lamina.cli import app
from lamina.errors import ConfigError
from lamina.labs.catalog import LabResult, list_labs, load_result, resolve
from lamina.labs.page import write_page
from tests.conftest import CHROMIUM_MISSING, CHROMIUM_REASON, images_loaded_in_chromium

PNG = b"\x89PNG\r\n\x1a\n"


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def test_labs_are_listed_in_order_each_with_a_one_sentence_claim() -> None:
    labs = list_labs()
    assert labs[0].name == "vanishing_gradients"
    assert [lab.order for lab in labs] == sorted(lab.order for lab in labs)
    assert len({lab.order for lab in labs}) == len(labs)
    for lab in labs:
        assert lab.claim.endswith(".") and lab.title


def test_unknown_lab_names_fail_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="unknown lab 'vanishing'.*vanishing_gradients"):
        resolve(["vanishing"])
    with pytest.raises(ConfigError, match="name a lab"):
        resolve([])
    assert resolve(["all"]) == [lab.name for lab in list_labs()]


def test_cli_lists_labs_and_rejects_unknown_names() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["lab", "list"])
    assert listed.exit_code == 0 and "vanishing_gradients" in listed.output
    bad = runner.invoke(app, ["lab", "run", "nosuchlab", "--quick"])
    assert bad.exit_code == 2 and "unknown lab 'nosuchlab'" in bad.output


def test_cli_refuses_a_file_as_out_and_an_unknown_progress_before_running(tmp_path: Path) -> None:
    runner = CliRunner()
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    as_file = runner.invoke(app, ["lab", "run", "vanishing_gradients", "--quick", "--out", str(taken)])
    assert as_file.exit_code == 2 and "is a file" in as_file.output and "vanishing_gradients" not in as_file.output
    assert taken.read_text() == "keep me"
    loud = runner.invoke(app, ["lab", "run", "vanishing_gradients", "--quick", "--progress", "loud",
                               "--out", str(tmp_path / "labs")])
    assert loud.exit_code == 2 and "--progress must be one of plain, none" in loud.output
    assert not (tmp_path / "labs").exists()


def test_result_is_saved_and_read_back(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("vanishing_gradients")
    again = load_result(result.folder)
    assert again.verdict == result.verdict and again.table == result.table and again.margin == result.margin


@pytest.fixture(scope="module")
def page(lab_result: Callable[[str], LabResult], labs_out: Path) -> Path:
    return write_page([lab_result(lab.name) for lab in list_labs()], labs_out)


def test_page_holds_every_lab_with_its_verdict_and_local_figures(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    parser = _Images()
    parser.feed(html)
    for lab in list_labs():
        assert f"id='{lab.name}'" in html
    assert len(parser.sources) >= len(list_labs())
    for src in parser.sources:
        assert not re.match(r"^[a-z]+:", src) and (page.parent / src).read_bytes().startswith(PNG), src
    assert html.count("CONFIRMED") >= len(list_labs())


@pytest.mark.skipif(CHROMIUM_MISSING, reason=CHROMIUM_REASON + "; test_page_holds_every_lab_with_its_verdict_"
                                                      "and_local_figures still checks every image offline")
def test_page_renders_in_headless_chromium_with_every_figure(page: Path, tmp_path: Path) -> None:
    images, loaded = images_loaded_in_chromium(page, tmp_path / "profile")
    assert images >= len(list_labs()) and loaded == images
