"""One offline HTML page for a set of lab results: each lab's claim, table, figures and verdict."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from lamina.files import atomic_write_text
from lamina.labs.catalog import LabResult
from lamina.report.page import html_page

LAB_STYLE = """
.confirmed { border-left: 4px solid #2b8a3e; padding: 0.3rem 0.8rem; background: #f0fff4; }
.refuted { border-left: 4px solid #c92a2a; padding: 0.3rem 0.8rem; background: #fff5f5; }
.claim { font-style: italic; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
        return f"<td class='num'>{escape(text)}</td>"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"<td class='num'>{value}</td>"
    return f"<td>{escape(str(value))}</td>"


def table_html(rows: list[dict[str, Any]]) -> str:
    """A lab's table as HTML; the columns are the union of the rows' keys, in first-seen order."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c, "")) for c in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(result: LabResult, root: Path) -> str:
    prefix = result.folder.resolve().relative_to(root.resolve()).as_posix()
    mode = "quick" if result.quick else "full"
    images = "".join(f"<img src='{escape(prefix + '/' + figure)}' alt='{escape(result.title)}: {escape(figure)}'>"
                     for figure in result.figures)
    css = "confirmed" if result.confirmed else "refuted"
    return (f"<h2 id='{escape(result.name)}'>{escape(result.title)}</h2>"
            f"<p class='claim'>{escape(result.claim)}</p>{table_html(result.table)}{images}"
            f"<div class='{css}'><b>{escape(result.verdict)}</b>: {escape(result.margin)}</div>"
            f"<p class='muted'>lamina lab run {escape(result.name)}{' --quick' if result.quick else ''}; "
            f"{mode} mode, seed {result.seed}, {result.seconds:.1f}s</p>")


def write_page(results: list[LabResult], root: Path) -> Path:
    """Write ``root/labs.html`` covering ``results`` (whose folders lie under ``root``); returns the page's path."""
    root = Path(root)
    confirmed = sum(r.confirmed for r in results)
    summary = "".join(
        f"<tr><td><a href='#{escape(r.name)}'>{escape(r.title)}</a></td>"
        f"<td>{escape(r.verdict)}</td><td>{escape(r.margin)}</td><td class='num'>{r.seconds:.1f}</td></tr>"
        for r in results)
    parts = ["<h1>lamina labs</h1>",
             f"<p class='muted'>{confirmed} of {len(results)} claims confirmed on this machine.</p>",
             f"<table><tr><th>lab</th><th>verdict</th><th>margin</th><th>seconds</th></tr>{summary}</table>",
             *(_section(r, root) for r in results)]
    page = html_page("lamina labs", "".join(parts), LAB_STYLE)
    path = root / "labs.html"
    atomic_write_text(path, page)
    return path
