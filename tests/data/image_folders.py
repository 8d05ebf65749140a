"""Image folders written by the tests: scikit-learn's digits upscaled to 32x32 and saved in many formats and modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIDE = 32


def digit_pixels() -> tuple[np.ndarray, np.ndarray]:
    """Digits as uint8 (N, 32, 32) grey images (8x8 upscaled 4x, 0-16 stretched to 0-255) and labels (N,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return pixels.repeat(SIDE // 8, axis=1).repeat(SIDE // 8, axis=2), bunch.target


def save_image(pixels: np.ndarray, path: Path, style: int) -> Path:
    """Save grey ``pixels`` in one of eight styles: grey/RGB PNG and JPEG, palette, 16-bit, BMP, RGBA WebP-lossless."""
    from PIL import Image

    grey = Image.fromarray(pixels, "L")
    if style == 0:
        return _save(grey, path.with_suffix(".png"))
    if style == 1:
        return _save(grey, path.with_suffix(".jpg"), quality=95)
    if style == 2:
        return _save(grey.convert("RGB"), path.with_suffix(".png"))
    if style == 3:
        return _save(grey.convert("RGB"), path.with_suffix(".jpg"), quality=95)
    if style == 4:  # palette with a grey ramp: the same grey values through a palette
        palette = Image.fromarray(pixels, "P")
        palette.putpalette([v for i in range(256) for v in (i, i, i)])
        return _save(palette, path.with_suffix(".png"))
    if style == 5:  # 16-bit greyscale
        return _save(Image.fromarray(pixels.astype(np.uint16) * 257), path.with_suffix(".png"))
    if style == 6:
        return _save(grey.convert("RGB"), path.with_suffix(".bmp"))
    return _save(grey.convert("RGBA"), path.with_suffix(".webp"), lossless=True)


def _save(image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def write_digit_folder(root: Path, rare_every: int = 40) -> Path:
    """Digits as root/<digit>/<index>.*: PNG and JPEG, grey and RGB, and every ``rare_every``-th file
    a palette PNG, a 16-bit PNG, a BMP or an RGBA WebP. Files sort in the order of :func:`folder_order`."""
    pixels, labels = digit_pixels()
    for i, (image, label) in enumerate(zip(pixels, labels)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        style = 4 + (i // rare_every) % 4 if i % rare_every == 0 else i % 4
        save_image(image, folder / f"{i:04d}", style)
    return root


def folder_order() -> np.ndarray:
    """Indices of the digits in the order a class folder lists them (class by class, then by file name)."""
    _, labels = digit_pixels()
    return np.argsort(labels, kind="stable")


def write_digit_arrays(path: Path) -> Path:
    """The same digits as an NPZ (x: uint8 (N, 1, 32, 32), y: labels) in the folder's order: the same split."""
    pixels, labels = digit_pixels()
    order = folder_order()
    np.savez(path, x=pixels[order][:, None], y=labels[order])
    return path
