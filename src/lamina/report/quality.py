"""The data-quality report as HTML: a section of every run's report.html and ``lamina inspect``'s page."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from lamina.files import atomic_write_text, write_json


def quality_section(report: dict[str, Any]) -> str:
    """The report's findings as HTML tables (warnings first)."""
    parts = [f"<div class='finding'><b>warning</b>: {escape(line)}</div>" for line in report["warnings"]]
    dup = report["duplicates"]
    rows = [("rows", report["rows"]), ("columns", report["columns"]), ("missing cells", report["missing_cells"]),
            ("exact duplicate rows", f"{dup['rows']} (in {dup['groups']} groups)")]
    rows += [(f"{k.split('_in_')[0]} rows whose inputs occur in {k.split('_in_')[1]}", v)
             for k, v in report.get("leakage", {}).items()]
    rows += [(label, ", ".join(report[key]) or "none") for key, label in
             (("empty_columns", "empty columns"), ("constant_columns", "constant columns"),
              ("id_like_columns", "id-like columns"))]
    parts.append(_rows(rows, ("check", "found")))
    if report["missing"]:
        parts += ["<h3>Missing cells per column</h3>", _rows(list(report["missing"].items()), ("column", "missing"))]
    classes = report.get("classes")
    if classes and classes["task"] == "classification":
        parts += [f"<h3>Class balance (largest/smallest {classes['ratio']:.1f}x)</h3>",
                  _rows(list(classes["counts"].items()), ("class", "rows"))]
        for rare in classes["rare"]:
            hint = f", resembles '{rare['resembles']}'" if "resembles" in rare else ""
            parts.append(f"<p>very small class '{escape(rare['class'])}': {rare['rows']} rows{escape(hint)}</p>")
    errors = report.get("label_errors")
    if errors and errors.get("rows"):
        parts.append(f"<h3>Likely label errors: {errors['flagged']} rows</h3><p class='muted'>{escape(errors['method'])}</p>")
        shown = [(str(r["row"]), f"{r['given']} (p={r['p_given']:.2f}) -> {r['likely']} (p={r['p_likely']:.2f})")
                 for r in errors["rows"][:50]]
        parts.append(_rows(shown, ("row", "given label -> likely label")))
    return "".join(parts)


def _rows(rows: list[tuple[Any, Any]], header: tuple[str, str]) -> str:
    body = "".join(f"<tr><td>{escape(str(k))}</td><td class='num'>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table><tr><th>{escape(header[0])}</th><th>{escape(header[1])}</th></tr>{body}</table>"


def write_quality(report: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write quality.json and quality.html (one offline page) into folder ``out``; returns their paths."""
    from lamina.report.page import html_page

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    data, page = folder / "quality.json", folder / "quality.html"
    write_json(data, report)
    title = f"data quality: {report['source']}"
    atomic_write_text(page, html_page(title, f"<h1>{escape(title)}</h1>{quality_section(report)}"))
    return data, page
