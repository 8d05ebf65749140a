"""The run's report.html: one offline page (no scripts, no CDN) with its images in figures/.

It gathers what the run folder holds: summary.json (settings, timings),
evaluation.json (test metrics, confusion matrix), metrics.jsonl (learning
curves), monitor.json (gradient flow), diagnosis.json (findings and remedies),
remedy.json (before and after, for a run that ``--remedy`` retrained), quality.json (the data-quality report) and any attribution images under explanations/ (written by ``lamina explain``).
"""

from __future__ import annotations

import shutil
from html import escape
from pathlib import Path
from typing import Any

from lamina.errors import RunFolderError
from lamina.files import atomic_write_text, read_json, read_jsonl
from lamina.report import figures
from lamina.report.activations import activation_figure, activation_series
from lamina.report.background import Figure, draw_figures, draw_in_background
from lamina.report.page import html_page



def _read(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def _history(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)


def _table(rows: list[tuple[str, Any]], header: tuple[str, str] = ("", "")) -> str:
    head = f"<tr><th>{escape(header[0])}</th><th>{escape(header[1])}</th></tr>" if any(header) else ""
    body = "".join(
        f"<tr><td>{escape(str(k))}</td><td class='num'>{escape(f'{v:.4f}' if isinstance(v, float) else str(v))}</td></tr>"
        for k, v in rows)
    return f"<table>{head}{body}</table>"


def _group_section(groups: dict[str, Any]) -> str:
    """One table per eval.groups column: each group's metrics, with the gaps between groups above it."""
    from lamina.evaluate.groups import format_rows

    html = []
    for title, header, rows in format_rows(groups):
        head = "".join(f"<th>{escape(name)}</th>" for name in header)
        body = "".join("<tr>" + "".join(f"<td{' class=num' if i else ''}>{escape(cell)}</td>" for i, cell in enumerate(row))
                       + "</tr>" for row in rows)
        html.append(f"<p>{escape(title)}</p><table><tr>{head}</tr>{body}</table>")
    return "".join(html)


def _image(src: str, alt: str) -> str:
    return f"<img src='{escape(src)}' alt='{escape(alt)}'>"


def write_report(run_dir: str | Path, background: bool = False) -> Path:
    """Draw the run's figures into figures/ and write report.html beside them; returns the page's path.

    With ``background`` the page is written now and the figures are drawn by a background
    process (see :mod:`lamina.report.background`; ``wait_for_reports`` waits for them).
    """
    root = Path(run_dir)
    page, shown = report_page(root)
    out = root / "figures"
    out.mkdir(exist_ok=True)
    if background:
        draw_in_background(shown, out)
    else:
        draw_figures(shown, out)
    path = root / "report.html"
    atomic_write_text(path, page)
    return path


def report_page(root: Path) -> tuple[str, list[Figure]]:
    """The run's report page (HTML) and the figures it shows, which are to be drawn into figures/."""
    summary = _read(root / "summary.json")
    if summary is None:
        raise RunFolderError(f"{root}/summary.json is missing; the report needs a finished run")
    evaluation = _read(root / "evaluation.json") or {}
    monitor = _read(root / "monitor.json")
    diagnosis = _read(root / "diagnosis.json")
    history = _history(root / "metrics.jsonl")
    shown: list[Figure] = []
    parts = [f"<h1>{escape(summary['name'])}</h1>",
             f"<p class='muted'>{escape(summary['task'])} on {escape(str(summary['data']))}; "
             f"{summary['params']:,} parameters; {summary['epochs_run']} epochs in {summary['train_seconds']:.1f}s</p>"]

    metrics = {k: v for k, v in summary.get("test", {}).items() if k != "confusion_matrix"}
    parts.append("<h2>Test metrics</h2>")
    parts.append(_table(list(metrics.items()), ("metric", "value")) if metrics else "<p>No test split.</p>")
    parts.append(_table([("samples (train / val / test)", " / ".join(str(v) for v in summary["samples"].values())),
                         ("best epoch", f"{summary['best_epoch']} ({summary['monitor']})"),
                         ("stopped early", summary["stopped_early"])]))

    if summary.get("groups"):
        parts += ["<h2>Metrics by group</h2>", _group_section(summary["groups"])]

    if history:
        shown.append(Figure("learning_curves.png", figures.learning_curves, (history,)))
        parts += ["<h2>Learning curves</h2>", _image("figures/learning_curves.png", "learning curves")]
    matrix = summary.get("test", {}).get("confusion_matrix")
    if matrix:
        classes = evaluation.get("classes") or [str(i) for i in range(len(matrix))]
        shown.append(Figure("confusion_matrix.png", figures.confusion_matrix, (matrix, classes)))
        parts += ["<h2>Confusion matrix</h2>", _image("figures/confusion_matrix.png", "confusion matrix")]

    quality = _read(root / "quality.json")
    if quality is not None:
        from lamina.report.quality import quality_section

        parts += ["<h2>Data quality (before training)</h2>", quality_section(quality)]
    parts.append("<h2>Diagnosis</h2>")
    parts.append(_diagnosis(diagnosis))
    if monitor and monitor.get("samples"):
        shown.append(Figure("gradient_flow.png", figures.gradient_flow, (monitor,)))
        parts.append(_image("figures/gradient_flow.png", "gradient flow"))
        if activation_series(monitor):
            shown.append(Figure("activations.png", activation_figure, (monitor,)))
            parts += ["<h3>Activations</h3>", _image("figures/activations.png", "activations over training")]
    remedy = _read(root / "remedy.json")
    if remedy and "after" in remedy:
        parts += ["<h2>Remedy: before and after</h2>", _remedy(remedy)]

    attributions = sorted((root / "explanations").glob("*.png")) if (root / "explanations").is_dir() else []
    if attributions:
        parts.append("<h2>Example attributions</h2>")
        for png in attributions:
            shown.append(Figure(f"attr_{png.name}", shutil.copyfile, (png,)))
            parts.append(_image(f"figures/attr_{png.name}", png.stem))

    return html_page(f"{summary['name']} report", "".join(parts)), shown


def _remedy(remedy: dict[str, Any]) -> str:
    before, after = remedy["before"], remedy["after"]
    rows = [("problems", ", ".join(before["findings"]) or "none", ", ".join(after["findings"]) or "none")]
    rows += [(k, before["val"].get(k), after["val"].get(k)) for k in sorted(set(before["val"]) | set(after["val"]))]
    cells = "".join(f"<tr><td>{escape(k)}</td>" + "".join(
        f"<td class='num'>{escape(f'{v:.4f}' if isinstance(v, float) else str(v))}</td>" for v in (b, a)) + "</tr>"
        for k, b, a in rows)
    changes = "".join(f"<li>{escape(n)}</li>" for n in remedy["changes"])
    return (f"<p class='muted'>before: {escape(before['run'])}</p><ul>{changes}</ul>"
            f"<table><tr><th></th><th>before</th><th>after</th></tr>{cells}</table>")


def _diagnosis(diagnosis: dict[str, Any] | None) -> str:
    if diagnosis is None:
        return "<p class='muted'>No diagnosis (trained with train.diagnose: false).</p>"
    if diagnosis["healthy"]:
        return (f"<div class='healthy'>No problems found ({diagnosis['samples']} monitor samples over "
                f"{diagnosis['epochs']} epochs).</div>")
    items = []
    for f in diagnosis["findings"]:
        evidence = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in f["evidence"].items())
        items.append(f"<div class='finding'><b>{escape(f['name'])}</b>: {escape(f['message'])}<br>"
                     f"<b>remedy</b>: {escape(f['remedy'])}<br><span class='muted'>evidence: {escape(evidence)}</span></div>")
    return "".join(items) + "<p class='muted'>lamina train CONFIG --remedy applies these remedies and retrains.</p>"
