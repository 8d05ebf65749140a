"""``lamina evaluate`` on a U-Net run folder: test pixel accuracy, IoU per class and mean IoU, from the folder alone.

A run on the user's images (config.yaml with data.masks) re-reads its test images and masks by the
config's split; a run on the generated shapes set (segmentation.json) regenerates its test set from
the saved settings and seed. Either way the figures equal summary.json's ``test``.
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.errors import ConfigError, RunFolderError
from lamina.evaluate.run import RUN_KINDS, RunKind, raw_config
from lamina.files import load_tensors, read_json
from lamina.nn.models.unet import UNet
from lamina.runs import RunFolder
from lamina.segment.folder import folder_parts, is_segmentation_config, parse_segmentation_run
from lamina.data.shapes import SHAPE_CLASSES, make_shapes
from lamina.segment.train import SegmentationSettings, predict_masks, segmentation_metrics

SETTINGS = "segmentation.json"  # a shapes-set run's settings (it has no config.yaml)


def is_unet_run(folder: RunFolder) -> bool:
    """Whether the folder holds a U-Net run: a config with data.masks, or a shapes-set run's segmentation.json."""
    return (folder.root / SETTINGS).is_file() or is_segmentation_config(raw_config(folder))


def evaluate_unet(folder: RunFolder) -> dict[str, Any]:
    """Re-score a U-Net run's test images; returns the report (pixel accuracy, mean IoU, IoU per class)."""
    if (folder.root / SETTINGS).is_file():
        try:
            settings = SegmentationSettings.model_validate(read_json(folder.root / SETTINGS))
        except ValueError as exc:
            raise RunFolderError(f"{folder.root / SETTINGS} is not a segmentation run's settings: {exc}") from None
        images, masks = make_shapes(settings.test, settings.size, settings.seed * 3 + 2)
        x, y, classes, width = torch.from_numpy(images), torch.from_numpy(masks), list(SHAPE_CLASSES), settings.width
        scored = f"the generated shapes test set ({settings.test} images, seed {settings.seed})"
    else:
        spec = parse_segmentation_run(folder.read_config(), str(folder.config))
        try:
            parts, classes, _ = folder_parts(spec)
        except ConfigError as exc:
            raise RunFolderError(f"{folder.config}: {exc}") from None
        (x, y), width = parts["test"], spec.model.width
        scored = f"the test split of {spec.data.path} (data.split)"
    model = UNet(tuple(x.shape[1:]), len(classes), width)
    try:
        model.load_state_dict(load_tensors(folder.weights))
    except RuntimeError as exc:
        raise RunFolderError(f"{folder.weights} does not match the run's U-Net: {str(exc).splitlines()[0]}") from None
    scores = segmentation_metrics(predict_masks(model.eval(), x), y, classes)
    metrics = {"pixel_accuracy": scores["pixel_accuracy"], "mean_iou": scores["mean_iou"],
               **{f"iou_{name}": value for name, value in scores["iou"].items()}}
    return {"kind": "unet", "split": "test", "samples": len(x), "metrics": metrics, "scored": scored}


RUN_KINDS.add("unet", RunKind(is_unet_run, evaluate_unet), "U-Net: test pixel accuracy, IoU per class and mean IoU")
