"""The classic adversarial-example figure: input, perturbation, adversarial input, with predictions."""

from __future__ import annotations

from pathlib import Path

import torch

from lamina.report.figures import pyplot, save_figure


def pick_examples(clean_probs: torch.Tensor, adv_probs: torch.Tensor, labels: torch.Tensor, count: int) -> list[int]:
    """Indices to show: correctly classified samples the attack fooled first, then other correct ones."""
    correct = clean_probs.argmax(1) == labels
    fooled = correct & (adv_probs.argmax(1) != labels)
    order = [int(i) for i in torch.nonzero(fooled).flatten()] + [int(i) for i in torch.nonzero(correct & ~fooled).flatten()]
    order += [i for i in range(len(labels)) if i not in set(order)]
    return order[:count]


def save_triplets(path: Path, x: torch.Tensor, adv: torch.Tensor, clean_probs: torch.Tensor, adv_probs: torch.Tensor,
                  labels: torch.Tensor, classes: list[str], eps: float, count: int, shape: tuple[int, ...]) -> None:
    """Save a PNG with one row per example: input, perturbation and adversarial input, titled with predictions."""
    plt = pyplot()
    rows = pick_examples(clean_probs, adv_probs, labels, count)
    fig, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.4 * len(rows)), squeeze=False)
    for r, i in enumerate(rows):
        delta = adv[i] - x[i]
        scale = float(delta.abs().max()) or 1.0
        panels = [(x[i], clean_probs[i], "input", "gray", None),
                  (delta, None, f"perturbation (eps {eps:g})", "seismic", (-scale, scale)),
                  (adv[i], adv_probs[i], "adversarial", "gray", None)]
        for c, (image, probs, title, cmap, limits) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(as_image(image.detach().cpu(), shape), cmap=cmap,
                      **({"vmin": limits[0], "vmax": limits[1]} if limits else {}))
            if probs is not None:
                k = int(probs.argmax())
                title = f"{title}: {classes[k]} ({float(probs[k]):.0%})"
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(f"true {classes[int(labels[i])]}", fontsize=9)
    save_figure(fig, path)


def as_image(t: torch.Tensor, shape: tuple[int, ...]):
    """A 2-D (or H, W, 3) array to draw: images as they are, flat features as one strip."""
    t = t.reshape(shape)
    if len(shape) == 3 and shape[0] == 1:
        return t[0].numpy()
    if len(shape) == 3 and shape[0] == 3:
        low, high = float(t.min()), float(t.max())
        return ((t - low) / ((high - low) or 1.0)).permute(1, 2, 0).numpy()
    return t.reshape(1, -1).numpy()
