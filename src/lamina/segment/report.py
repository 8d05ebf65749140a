"""A segmentation run's report.html: test IoU per class, learning curves and example predictions, offline."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from lamina.files import atomic_write_text
from lamina.report import figures
from lamina.report.page import html_page


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><td>{escape(k)}</td><td class='num'>{v:.4f}</td></tr>" for k, v in pairs)


def write_segmentation_report(root: Path, summary: dict[str, Any], history: list[dict[str, Any]]) -> Path:
    """Draw the learning curves and write report.html beside figures/predictions.png; returns the page's path."""
    curves = figures.learning_curves(history, root / "figures" / "learning_curves.png")
    test = summary["test"]
    overall = [("mean IoU", test["mean_iou"]), ("pixel accuracy", test["pixel_accuracy"])]
    per_class = [(f"IoU {name}", value) for name, value in test["iou"].items()]
    parts = [f"<h1>{escape(summary['name'])}</h1>",
             f"<p class='muted'>U-Net segmentation of the synthetic shapes set; {summary['params']:,} parameters; "
             f"{summary['epochs_run']} epochs in {summary['train_seconds']:.1f}s (best validation mean IoU kept)</p>",
             "<h2>Test metrics</h2>", f"<table><tr><th>metric</th><th>value</th></tr>{_rows(overall + per_class)}</table>",
             "<h2>Learning curves</h2>", f"<img src='figures/{curves.name}' alt='learning curves'>",
             "<h2>Example predictions</h2>", "<img src='figures/predictions.png' alt='image, true mask, predicted mask'>"]
    page = html_page(f"{summary['name']} report", "".join(parts))
    path = root / "report.html"
    atomic_write_text(path, page)
    return path
