"""Attributions for token models (text, token sequences), taken through the embedding layer.

Integrated gradients cannot interpolate between integer token ids, so the path
runs in embedding space instead (captum's layer attribution): from the padding
token's vector (zeros for a trained padding row) to each token's vector, with
the real ids still deciding the padding mask. Summing over the embedding axis
gives one signed number per token. ``tokens.html`` shows each explained text
with its tokens shaded by that number (red for the explained class, blue
against it); the JSON beside it holds the same numbers.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamina.errors import ConfigError
from lamina.files import atomic_write_text
from lamina.report.page import html_page

TOKEN_METHODS = ("integrated_gradients", "saliency")
PAD = 0  # padding id of every lamina vocabulary


def embedding_layer(model: nn.Module) -> nn.Module:
    """The model's first token embedding (lamina's ``embedding`` layer, or a plain ``nn.Embedding``)."""
    for module in model.modules():
        if isinstance(module, nn.Embedding) or hasattr(module, "embed") and isinstance(module.embed, nn.Embedding):
            return module
    raise ConfigError("this token model has no embedding layer to attribute through")


def token_attributions(method: str, model: nn.Module, ids: torch.Tensor, target: torch.Tensor,
                       steps: int = 50) -> tuple[torch.Tensor, dict[str, Any]]:
    """Per-token attributions (B, T) of ``method`` for token ids ``ids``, and facts such as the IG check.

    ``integrated_gradients`` is signed and sums to f(x) - f(baseline), the
    baseline being every embedding replaced by the padding token's vector;
    ``saliency`` is the norm of the output's gradient at each token's vector.
    """
    if method not in TOKEN_METHODS:
        raise ConfigError(f"method for a token model must be one of ig, saliency "
                          f"(attributions through the embedding layer); got {method}")
    layer = embedding_layer(model)
    pad = torch.full_like(ids, PAD)
    if method == "saliency":
        from captum.attr import LayerGradientXActivation

        grads = LayerGradientXActivation(model, layer, multiply_by_inputs=False).attribute(ids, target=target)
        return grads.detach().norm(dim=-1), {}  # (B, T)
    from captum.attr import LayerIntegratedGradients

    attr = LayerIntegratedGradients(model, layer).attribute(ids, baselines=pad, target=target, n_steps=steps)
    per_token = attr.detach().sum(dim=-1)  # (B, T, D) -> (B, T)
    pick = target.view(-1, 1)
    with torch.no_grad():
        delta = (model(ids).gather(1, pick) - _with_baseline_embeddings(model, layer, ids, pad).gather(1, pick)).view(-1)
    sums = per_token.sum(dim=1)
    gap = (sums - delta).abs()
    return per_token, {"attribution_sums": sums.tolist(), "output_differences": delta.tolist(),
                       "relative_error": float(gap.sum() / delta.abs().sum().clamp_min(1e-12)), "steps": steps,
                       "baseline": "every token's embedding replaced by the padding token's"}


def _with_baseline_embeddings(model: nn.Module, layer: nn.Module, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """The model's output on ``ids`` (their padding mask) with every embedding replaced by the padding token's."""
    baseline = layer(pad)
    handle = layer.register_forward_hook(lambda _module, _inputs, _out: baseline)
    try:
        return model(ids)
    finally:
        handle.remove()


def token_rows(ids: torch.Tensor, attr: torch.Tensor, vocab: list[str]) -> list[list[dict[str, Any]]]:
    """Each sample's tokens (padding dropped) with their attribution: [[{token, attribution}, ...], ...]."""
    rows = []
    for sample, values in zip(ids.tolist(), attr.tolist()):
        rows.append([{"token": vocab[i] if 0 <= i < len(vocab) else str(i), "attribution": round(v, 6)}
                     for i, v in zip(sample, values) if i != PAD])
    return rows


def write_token_html(path: Path, rows: list[list[dict[str, Any]]], labels: list[str], method: str) -> Path:
    """One line per sample, each token shaded by its attribution (scaled by the sample's largest |value|)."""
    lines = []
    for label, tokens in zip(labels, rows):
        scale = max((abs(t["attribution"]) for t in tokens), default=0.0) or 1.0
        spans = []
        for t in tokens:
            share = t["attribution"] / scale
            rgb = "214,39,40" if share >= 0 else "31,119,180"
            spans.append(f"<span title='{t['attribution']:.4g}' style='background: rgba({rgb},{abs(share):.2f})'>"
                         f"{html.escape(t['token'])}</span>")
        lines.append(f"<p><b>{html.escape(label)}</b>: {' '.join(spans)}</p>")
    page = html_page(f"{method}: token attributions",
                     f"<h1>{html.escape(method)}: attribution per token</h1><p>Red tokens push towards the explained "
                     "class (in bold), blue ones against it; hover for the value.</p>" + "\n".join(lines),
                     "span { padding: 1px 3px; border-radius: 3px; }")
    atomic_write_text(path, page)
    return path
