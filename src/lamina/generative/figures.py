"""The generative run's figures: image grids, the 2-D latent map and the GAN's D and G losses (PNGs)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from lamina.report.figures import pyplot, save_figure


def image_grid(images: torch.Tensor, path: Path, title: str, labels: list[str] | None = None) -> Path:
    """Images (N, C, H, W) in [0, 1] tiled into one near-square picture, each with an optional label.

    One tiled array and one ``imshow`` rather than a subplot per image: a 64-image grid draws in a fraction
    of the time.
    """
    plt = pyplot()
    pictures = images.detach().cpu().float().clamp(0, 1)
    n, c, h, w = pictures.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pad = 1
    canvas = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), np.float32)
    for i in range(n):
        top, left = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        tile = pictures[i].numpy()
        canvas[top : top + h, left : left + w] = np.transpose(tile[:3] if c >= 3 else np.repeat(tile[:1], 3, 0), (1, 2, 0))
    fig, ax = plt.subplots(figsize=(max(3.0, cols * 0.8), max(3.0, rows * 0.8) + 0.4))
    ax.imshow(canvas, interpolation="nearest")
    for i, label in enumerate(labels or []):
        top, left = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        ax.text(left - 0.5, top - 0.5, label, fontsize=7, color="red", va="top", ha="left",
                bbox={"facecolor": "white", "alpha": 0.75, "pad": 0.5, "linewidth": 0})
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def latent_map(codes: torch.Tensor, labels: list[str], path: Path, title: str) -> Path:
    """Codes as a 2-D scatter coloured by class (projected on their first two principal axes if wider)."""
    plt = pyplot()
    points = codes.double()
    axis_names = ("z1", "z2")
    if points.shape[1] > 2:
        centred = points - points.mean(dim=0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        points, axis_names = centred @ v[:2].T, ("PC1 of z", "PC2 of z")
    elif points.shape[1] == 1:
        points = torch.cat([points, torch.zeros_like(points)], dim=1)
    fig, ax = plt.subplots(figsize=(6, 5))
    for name in sorted(set(labels), key=lambda s: (len(s), s)):
        mask = np.asarray([label == name for label in labels])
        ax.scatter(points[mask, 0].numpy(), points[mask, 1].numpy(), s=8, label=name, alpha=0.7)
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title)
    ax.legend(markerscale=2, fontsize=7, loc="best")
    return save_figure(fig, path)


def gan_losses(steps: list[dict[str, float]], path: Path) -> Path:
    """The discriminator's and generator's loss at every step."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = [s["step"] for s in steps]
    ax.plot(x, [s["d_loss"] for s in steps], label="D loss", linewidth=0.7)
    ax.plot(x, [s["g_loss"] for s in steps], label="G loss", linewidth=0.7)
    ax.set_xlabel("step")
    ax.set_title("GAN losses per step")
    ax.legend()
    return save_figure(fig, path)
