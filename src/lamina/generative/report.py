"""A generative run's report.html: its key figures as a table and every PNG under figures/ (offline, no scripts)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from lamina.files import atomic_write_text
from lamina.report.page import html_page

SHOWN = ("model", "kind", "latent", "params", "epochs_run", "train_seconds", "test_mse", "pca_test_mse",
         "judge_accuracy")


def _rows(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    rows = [(k, summary[k]) for k in SHOWN if k in summary]
    for key in ("anomaly", "pca_anomaly"):
        if key in summary:
            rows += [(f"{key}.{m}", summary[key][m]) for m in ("auroc", "auprc", "threshold", "precision", "recall")]
    if "coverage" in summary:
        c = summary["coverage"]
        rows += [("classes covered", f"{c['covered']} of {c['classes']}"),
                 ("class entropy (nats)", f"{c['entropy']} of {c['max_entropy']}")]
    return rows


def _cell(value: Any) -> str:
    return escape(f"{value:.4g}" if isinstance(value, float) else str(value))


def write_generative_report(root: Path, summary: dict[str, Any]) -> Path:
    """Write ``root``/report.html from the summary and the PNGs in ``root``/figures."""
    table = "".join(f"<tr><th>{escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in _rows(summary))
    warnings = "".join(f"<p class='warn'>warning: {escape(w)}</p>" for w in summary.get("warnings", []))
    images = "".join(f"<h2>{escape(p.stem)}</h2><img src='figures/{escape(p.name)}' alt='{escape(p.stem)}'>"
                     for p in sorted((root / "figures").glob("*.png")))
    page = html_page(summary["name"], f"<h1>{escape(summary['name'])}: {escape(summary['model'])}</h1>"
                                      f"<table>{table}</table>{warnings}{images}")
    path = root / "report.html"
    atomic_write_text(path, page)
    return path
