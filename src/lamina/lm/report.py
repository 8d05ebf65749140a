"""A language-model run's report.html: the held-out figures beside the unigram baseline, learning curves, a sample.

Written offline at the end of training (one figure, figures/learning_curves.png, through the shared
figure writer; the page through the shared HTML shell), like every family's report.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import torch

from lamina.files import atomic_write_text
from lamina.lm.generate import sample
from lamina.lm.tokenize import Tokenizer
from lamina.nn.models.language import GPT
from lamina.report import figures
from lamina.report.page import html_page

SAMPLE_TOKENS = 200  # the report's generated sample, after a prompt from the held-out text


def sample_text(model: GPT, tokenizer: Tokenizer, prompt: torch.Tensor, seed: int) -> str:
    """The report's sample: ``prompt`` (token ids) and SAMPLE_TOKENS more at temperature 0.8, seeded."""
    out = sample(model, prompt.unsqueeze(0), SAMPLE_TOKENS, 0.8, generator=torch.Generator().manual_seed(seed))
    return tokenizer.decode(out[0])


def write_language_report(root: Path, summary: dict[str, Any], history: list[dict[str, Any]], text: str,
                          eval_every: int) -> Path:
    """Draw the learning curves and write report.html (summary table, curves, ``text`` as the sample); its path."""
    curves = figures.learning_curves(history, root / "figures" / "learning_curves.png")
    val = summary["val"]
    rows = [("held-out loss (nats per token)", f"{val['loss']:.4f}"), ("perplexity", f"{val['perplexity']:.3f}"),
            ("bits per character", f"{val['bits_per_char']:.4f}"),
            ("unigram baseline loss", f"{summary['unigram_val_loss']:.4f}"),
            ("unigram baseline bits per character", f"{summary['unigram_bits_per_char']:.4f}"),
            ("parameters", f"{summary['params']:,}"), ("steps", str(summary["steps"])),
            ("training seconds", f"{summary['train_seconds']:.1f}"),
            ("tokens (train / held out / vocabulary)",
             f"{summary['tokens']['train']:,} / {summary['tokens']['val']:,} / {summary['tokens']['vocab']:,}")]
    table = "".join(f"<tr><td>{escape(k)}</td><td class='num'>{escape(v)}</td></tr>" for k, v in rows)
    parts = [f"<h1>{escape(summary['name'])}</h1>",
             f"<p class='muted'>GPT language model on {escape(str(summary['data']))}; held-out figures score every "
             "token of the validation part once</p>",
             "<h2>Summary</h2>", f"<table><tr><th>figure</th><th>value</th></tr>{table}</table>",
             "<h2>Learning curves</h2>",
             f"<p class='muted'>an epoch here is train.eval_every = {eval_every} steps</p>",
             f"<img src='figures/{curves.name}' alt='learning curves'>",
             "<h2>A generated sample</h2>",
             f"<p class='muted'>{SAMPLE_TOKENS} tokens at temperature 0.8 after a prompt from the held-out text</p>",
             f"<pre>{escape(text)}</pre>"]
    path = root / "report.html"
    atomic_write_text(path, html_page(f"{summary['name']} report", "".join(parts)))
    return path
