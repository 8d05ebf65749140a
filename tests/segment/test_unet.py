"""The U-Net on the synthetic shapes set: mean IoU, per-class IoU and pixel accuracy on the test images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lamina.errors import ConfigError
from lamina.segment.train import SegmentationSettings, segmentation_metrics, train_segmentation


def test_unet_reaches_mean_iou_080_on_shapes(tmp_path):
    result = train_segmentation(SegmentationSettings(), tmp_path, progress="none")
    test = result["test"]
    print(f"U-Net test mean IoU {test['mean_iou']:.3f}, pixel accuracy {test['pixel_accuracy']:.3f}, {test['iou']}")
    assert test["mean_iou"] >= 0.80
    assert min(test["iou"].values()) > 0.6
    root = Path(result["folder"])
    assert (root / "model.safetensors").is_file() and (root / "figures" / "predictions.png").is_file()
    page = (root / "report.html").read_text(encoding="utf-8")
    assert f"{test['mean_iou']:.4f}" in page
    for image in ("figures/learning_curves.png", "figures/predictions.png"):
        assert image in page and (root / image).read_bytes().startswith(b"\x89PNG")


def test_metrics_match_hand_counts():
    masks = torch.tensor([[[0, 0], [1, 2]]])
    predicted = torch.tensor([[[0, 1], [1, 2]]])
    scores = segmentation_metrics(predicted, masks, ["bg", "a", "b"])
    assert scores["pixel_accuracy"] == pytest.approx(0.75)
    assert scores["iou"] == pytest.approx({"bg": 0.5, "a": 0.5, "b": 1.0})
    assert scores["mean_iou"] == pytest.approx(2 / 3)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="size must be a multiple of 4"):
        train_segmentation(SegmentationSettings(size=10))
