"""A pretraining run's report.html: the pretext loss per epoch and, when a test split was held out, its loss there."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from lamina.files import atomic_write_text
from lamina.report import figures
from lamina.report.page import html_page


def write_pretrain_report(root: Path, name: str, record: dict[str, Any]) -> Path:
    """Draw the loss curve (figures/learning_curves.png) and write report.html from pretrain.json's ``record``."""
    history = [{"epoch": i + 1, "train_loss": loss} for i, loss in enumerate(record["losses"])]
    curve = figures.learning_curves(history, root / "figures" / "learning_curves.png")
    rows = [("method", record["method"]), ("inputs pretrained on (labels unused)", f"{record['samples']:,}"),
            ("epochs", str(len(record["losses"]))), ("training seconds", f"{record['seconds']:.1f}")]
    if record["losses"]:
        rows.append(("last epoch's pretext loss", f"{record['losses'][-1]:.4f}"))
    if "test_pretext_loss" in record:
        rows.append((f"held-out pretext loss ({record['test_samples']} test inputs)",
                     f"{record['test_pretext_loss']:.4f}"))
    table = "".join(f"<tr><td>{escape(k)}</td><td class='num'>{escape(v)}</td></tr>" for k, v in rows)
    parts = [f"<h1>{escape(name)}</h1>",
             f"<p class='muted'>self-supervised pretraining ({escape(record['method'])}); {escape(record['note'])}</p>",
             "<h2>Summary</h2>", f"<table><tr><th>figure</th><th>value</th></tr>{table}</table>",
             "<h2>Pretext loss</h2>", f"<img src='figures/{curve.name}' alt='pretext loss per epoch'>"]
    path = root / "report.html"
    atomic_write_text(path, html_page(f"{name} report", "".join(parts)))
    return path
