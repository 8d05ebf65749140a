"""Segmentation on the user's files: generated shapes written as PNG images and masks, trained by lamina train."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lamina.data.shapes import make_shapes
from lamina.errors import DataError
from lamina.segment.folder import image_mask_pairs, read_masks
from tests.e2e.test_cli import invoke, write_config


def write_shapes(root: Path, n: int, size: int = 24, seed: int = 0) -> tuple[Path, Path]:
    """``n`` shapes images as grey PNGs in root/images and their masks (class index per pixel) in root/masks."""
    from PIL import Image

    images, masks = make_shapes(n, size, seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (image, mask) in enumerate(zip(images, masks)):
        Image.fromarray(np.round(image[0] * 255).astype(np.uint8), "L").save(root / "images" / f"{i:04d}.png")
        Image.fromarray(mask.astype(np.uint8), "L").save(root / "masks" / f"{i:04d}.png")
    return root / "images", root / "masks"


@pytest.mark.slow
def test_unet_on_png_shapes_reaches_mean_iou_080(tmp_path: Path) -> None:
    images, masks = write_shapes(tmp_path, 800)
    config = write_config(tmp_path / "seg.yaml", {
        "name": "seg", "runs_dir": str(tmp_path / "runs"), "seed": 0,
        "data": {"path": str(images), "masks": str(masks), "image": {"cache": str(tmp_path / "cache")},
                 "split": {"val": 0.125, "test": 0.25}},
        "model": {"arch": "unet", "width": 8},
        "train": {"epochs": 16, "batch_size": 32, "optimizer": {"lr": 0.002}},
    })
    code, out = invoke("train", str(config), "--progress", "none")
    assert code == 0, out
    summary = json.loads((tmp_path / "runs" / "seg" / "summary.json").read_text())
    print(out)
    assert summary["test"]["mean_iou"] >= 0.80 and set(summary["test"]["iou"]) == {"0", "1", "2", "3"}
    assert "mean IoU" in out and "IoU per class: 0 " in out
    assert (tmp_path / "runs" / "seg" / "model.safetensors").is_file()


def test_missing_mask_and_rgb_mask_are_named(tmp_path: Path) -> None:
    from PIL import Image

    images, masks = write_shapes(tmp_path, 3)
    (masks / "0001.png").unlink()
    with pytest.raises(DataError, match="no mask for 0001.png"):
        image_mask_pairs(images, masks)
    Image.new("RGB", (24, 24)).save(masks / "0001.png")
    files, found = image_mask_pairs(images, masks)
    with pytest.raises(DataError, match="0001.png is a RGB image"):
        read_masks(found, (24, 24))
    assert read_masks(found[:1], (12, 12)).shape == (1, 12, 12)


def test_segmentation_config_errors_exit_2(tmp_path: Path) -> None:
    images, masks = write_shapes(tmp_path, 3)
    config = write_config(tmp_path / "seg.yaml", {"data": {"path": str(images), "masks": str(masks)},
                                                  "model": {"arch": "unet", "widht": 8}})
    code, out = invoke("train", str(config), "--progress", "none")
    assert code == 2 and "widht" in out and out.count("error:") == 1, out
