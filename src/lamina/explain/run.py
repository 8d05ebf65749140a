"""Explain a trained run: attributions for some inputs, written as overlay PNGs (images) or tables (tabular).

``lamina explain RUN --method saliency|ig|gradcam|shap --input test|FILE`` lands here.
Inputs are the run's own test split (``test``; the validation split when there is
none) or a CSV/NPZ of raw samples put through the run's saved preprocessing. The
files go to ``RUN/explanations/``: ``<method>.png`` (input and attribution side by
side for images, mean |attribution| per feature for tables), ``<method>.csv``
(one row per sample and feature, tabular inputs) and ``<method>.json`` (targets,
and for integrated gradients the completeness check). Text and token runs are
attributed through their embedding layer (``explain/tokens.py``):
``<method>-tokens.html`` shades each token, and the JSON holds every token's value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError, one_of
from lamina.explain.attribute import attribute, targets_for
from lamina.explain.tokens import token_attributions, token_rows, write_token_html
from lamina.files import atomic_write_text, write_json
from lamina.report.figures import pyplot, save_figure
from lamina.runs import Run, load_run

ALIASES = {"saliency": "saliency", "ig": "integrated_gradients", "integrated_gradients": "integrated_gradients",
           "gradcam": "gradcam", "shap": "shap", "gradient_shap": "gradient_shap", "kernel_shap": "kernel_shap"}
BACKGROUND = 64  # training samples SHAP compares against


def resolve_method(name: str, flat: bool) -> str:
    """The attribution method a CLI name means; ``shap`` is KernelShap for tables, GradientShap otherwise."""
    if name not in ALIASES:
        raise ConfigError(one_of("method", name, list(ALIASES)))
    method = ALIASES[name]
    if method == "shap":
        return "kernel_shap" if flat else "gradient_shap"
    return method


def explain_run(run_dir: str | Path, method: str, inputs: str = "test", count: int = 8, layer: str | None = None,
                out: str | Path | None = None) -> dict[str, Any]:
    """Attribute ``count`` inputs of the run with ``method`` and write the figures and tables; returns what was written."""
    if count < 1:
        raise ConfigError(f"count must be a positive integer; got {count}")
    run = load_run(run_dir)
    data = prepare_data(run.spec.data, fitted=run.preprocessor)
    if inputs == "test":
        split = data.test if len(data.test) else data.val
        if len(split) == 0:
            raise ConfigError("the run has no test or validation split to explain; give inputs as a file (.csv or .npz)")
        x = split.x[:count]
    else:
        x = torch.as_tensor(run.read_inputs(inputs))[:count]
    if run.preprocessor.inputs.kind == "tokens":
        return explain_tokens(run, x.long().to(run.device), method, inputs, out)
    x = x.float().to(run.device)
    chosen = resolve_method(method, x.dim() == 2)
    torch.manual_seed(run.spec.seed)
    background = data.train.x[:BACKGROUND].float().to(run.device)
    target, attr, extra = attribute(chosen, run.model, x, background, layer)
    folder = Path(out) if out is not None else run.folder.root / "explanations"
    folder.mkdir(parents=True, exist_ok=True)
    labels = class_labels(run, target)
    written = []
    if x.dim() == 2:
        names = feature_names(run, x.shape[1])
        written.append(write_table(folder / f"{chosen}.csv", names, labels, attr))
        written.append(feature_bars(folder / f"{chosen}.png", names, attr, chosen))
    elif x.dim() == 4:
        written.append(image_overlays(folder / f"{chosen}.png", x, attr, labels, chosen))
    else:
        written.append(sequence_heatmap(folder / f"{chosen}.png", attr, labels, chosen))
    facts = {"method": chosen, "inputs": inputs, "samples": len(x), "targets": labels, **extra}
    write_json(folder / f"{chosen}.json", facts)
    written.append(folder / f"{chosen}.json")
    return {"method": chosen, "files": [str(p) for p in written], "facts": facts}


def explain_tokens(run: Run, ids: torch.Tensor, method: str, inputs: str, out: str | Path | None) -> dict[str, Any]:
    """Per-token attributions of a text or token run, through its embedding: tokens.html and a JSON of them."""
    if run.task == "seq2seq":
        raise ConfigError("lamina explain covers classifiers and regressors; a seq2seq run has no single output "
                          "to attribute")
    chosen = resolve_method(method, flat=False)
    run.model.eval()
    target = targets_for(run.model, ids)
    attr, extra = token_attributions(chosen, run.model, ids, target)
    folder = Path(out) if out is not None else run.folder.root / "explanations"
    folder.mkdir(parents=True, exist_ok=True)
    labels = class_labels(run, target)
    rows = token_rows(ids, attr, run.preprocessor.inputs.vocab)
    page = write_token_html(folder / f"{chosen}-tokens.html", rows, labels, chosen)
    facts = {"method": chosen, "inputs": inputs, "samples": len(ids), "targets": labels, "tokens": rows, **extra}
    write_json(folder / f"{chosen}.json", facts)
    return {"method": chosen, "files": [str(page), str(folder / f"{chosen}.json")], "facts": facts}


def class_labels(run: Run, target: torch.Tensor) -> list[str]:
    """The explained output of each sample, by class name (or output index for regression).

    A binary run has one output, the logit of its second (positive) class: that class is what is explained.
    """
    classes = run.preprocessor.target.classes
    if run.task == "binary" and len(classes) == 2:
        return [str(classes[1])] * len(target)
    return [str(classes[int(t)]) if classes and int(t) < len(classes) else f"output {int(t)}" for t in target]


def feature_names(run: Run, width: int) -> list[str]:
    """Names of the model's flat inputs: CSV columns (one per category for one-hot ones) or array features."""
    prep = run.preprocessor.inputs
    names: list[str] = []
    for column in prep.columns:
        names += [column.name] if column.kind == "numeric" else [f"{column.name}={c}" for c in column.categories]
    if len(names) != width:
        names = list(prep.feature_names) if len(prep.feature_names) == width else [f"x{i}" for i in range(width)]
    return names


def write_table(path: Path, names: list[str], labels: list[str], attr: torch.Tensor) -> Path:
    """One row per sample: the explained class and each feature's attribution."""
    lines = [",".join(["sample", "explained"] + [_csv_cell(n) for n in names])]
    for i, (label, row) in enumerate(zip(labels, attr.cpu().tolist())):
        lines.append(",".join([str(i), _csv_cell(label)] + [f"{v:.6g}" for v in row]))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text






def feature_bars(path: Path, names: list[str], attr: torch.Tensor, method: str) -> Path:
    """Mean |attribution| per feature over the explained samples, largest first (at most 20 bars)."""
    plt = pyplot()
    mean = attr.abs().mean(dim=0).cpu().numpy()
    order = np.argsort(mean)[::-1][:20]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.2))
    ax.barh([names[i] for i in order][::-1], mean[order][::-1])
    ax.set_xlabel("mean |attribution|")
    ax.set_title(f"{method}: feature importance over {len(attr)} samples")
    return save_figure(fig, path)


def image_overlays(path: Path, x: torch.Tensor, attr: torch.Tensor, labels: list[str], method: str) -> Path:
    """Each image in grey with its attribution heat map over it (top row: input; bottom: overlay)."""
    plt = pyplot()
    n = len(x)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n + 0.4, 3.6), squeeze=False)
    images = x.detach().float().mean(dim=1).cpu().numpy()  # (B, H, W)
    heat = attr.detach().float().abs().sum(dim=1).cpu().numpy()  # (B, H, W)
    for i in range(n):
        axes[0][i].imshow(images[i], cmap="gray")
        axes[0][i].set_title(labels[i], fontsize=8)
        axes[1][i].imshow(images[i], cmap="gray")
        axes[1][i].imshow(heat[i] / max(float(heat[i].max()), 1e-12), cmap="jet", alpha=0.5, vmin=0, vmax=1)
        for row in (0, 1):
            axes[row][i].axis("off")
    fig.suptitle(f"{method} (explained class above each image)", fontsize=9)
    return save_figure(fig, path)


def sequence_heatmap(path: Path, attr: torch.Tensor, labels: list[str], method: str) -> Path:
    """Per-position attribution of each sequence (rows: samples), summed over channels or embedding."""
    plt = pyplot()
    values = attr.detach().float().abs()
    values = values.sum(dim=1) if values.dim() == 3 and values.shape[1] < values.shape[2] else values.reshape(len(values), -1)
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(values) + 1.2))
    ax.imshow(values.cpu().numpy(), aspect="auto", cmap="magma")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("position")
    ax.set_title(f"{method}: attribution per position")
    return save_figure(fig, path)
