"""A synthetic segmentation set: grey images of circles, squares and triangles with per-pixel masks.

Each image holds one to three shapes of random size, place and brightness on a
noisy background; the mask labels every pixel 0 (background), 1 (circle),
2 (square) or 3 (triangle), a later shape covering an earlier one. Brightness
says nothing about the class, so a model must learn the outlines. Generated
from a seed, so the same call always gives the same set (no download).
"""

from __future__ import annotations

import numpy as np

from lamina.errors import ConfigError

SHAPE_CLASSES = ("background", "circle", "square", "triangle")


def make_shapes(n: int, size: int = 32, seed: int = 0, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 1, size, size) float32 in [0, 1] and their masks (n, size, size) int64."""
    if n < 1 or size < 8:
        raise ConfigError(f"make_shapes needs n >= 1 and size >= 8; got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    images = np.zeros((n, size, size), np.float32)
    masks = np.zeros((n, size, size), np.int64)
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            label = int(rng.integers(1, 4))
            radius = rng.uniform(0.12, 0.25) * size
            cy, cx = rng.uniform(radius, size - radius, 2)
            inside = _inside(label, rows - cy, cols - cx, radius)
            images[i][inside] = rng.uniform(0.4, 1.0)
            masks[i][inside] = label
    images += rng.normal(0.0, noise, images.shape).astype(np.float32)
    return np.clip(images, 0.0, 1.0)[:, None], masks


def _inside(label: int, dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    """Pixels inside a circle, an axis-aligned square or an upward triangle centred at offset (0, 0)."""
    if label == 1:
        return dy**2 + dx**2 <= radius**2
    if label == 2:
        half = radius * 0.85
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    return (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.6)  # apex at the top
