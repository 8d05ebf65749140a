"""Train a U-Net on the synthetic shapes set and measure pixel accuracy and IoU (torchmetrics).

    loop.fit with the pixel-wise step: per batch, per-pixel cross-entropy -> state.update (Adam)
    per epoch: validation mean IoU -> keep the best weights so far
    restore the best weights -> test pixel accuracy, IoU per class and mean

The run folder holds segmentation.json (the settings), model.safetensors,
metrics.jsonl, summary.json, figures/predictions.png and report.html.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from lamina.config import Options, TrainSpec
from lamina.data.prepare import Prepared, Split
from lamina.data.shapes import SHAPE_CLASSES, make_shapes
from lamina.files import atomic_write_text, save_tensors, write_json
from lamina.nn.models.unet import UNet
from lamina.report import figures
from lamina.runs import RunFolder
from lamina.segment.report import write_segmentation_report
from lamina.train.callbacks import Callback, Progress
from lamina.train.loop import State, fit
from lamina.train.steps import Step


class SegmentationSettings(Options):
    """What one segmentation run uses: data sizes, image side, U-Net width and the optimizer's settings."""

    name: str = "shapes-unet"
    train: int = Field(500, ge=1)
    val: int = Field(100, ge=1)
    test: int = Field(200, ge=1)
    size: int = Field(24, ge=8)
    width: int = Field(8, ge=1)
    epochs: int = Field(16, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)
    seed: int = Field(0, ge=0)

    @field_validator("size")
    @classmethod
    def _pools_twice(cls, size: int) -> int:
        if size % 4:
            raise ValueError(f"size must be a multiple of 4 (the U-Net halves it twice); got {size}")
        return size


@torch.no_grad()
def predict_masks(model: UNet, x: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Per-pixel predicted classes (N, H, W) in eval mode."""
    model.eval()
    return torch.cat([model(chunk).argmax(1) for chunk in x.split(batch_size)])


def segmentation_metrics(predicted: torch.Tensor, masks: torch.Tensor, classes: list[str]) -> dict[str, Any]:
    """Pixel accuracy, IoU per class and mean IoU (over all classes, background included)."""
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_jaccard_index

    k = len(classes)
    per_class = multiclass_jaccard_index(predicted, masks, num_classes=k, average="none")
    return {"pixel_accuracy": float(multiclass_accuracy(predicted, masks, num_classes=k, average="micro")),
            "mean_iou": float(per_class.mean()),
            "iou": {name: float(v) for name, v in zip(classes, per_class)}}


class PixelWise(Step):
    """One U-Net batch: per-pixel cross-entropy of the logits (B, K, H, W) against the masks (B, H, W)."""

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        x, masks = batch
        with state.autocast:
            loss = F.cross_entropy(state.net(x).float(), masks)
        state.update(loss)
        return loss

    def validate(self, state: State) -> dict[str, float]:
        scores = segmentation_metrics(predict_masks(state.model, state.data.val.x), state.data.val.y,
                                      list(SHAPE_CLASSES))
        return {"val_mean_iou": scores["mean_iou"], "val_pixel_accuracy": scores["pixel_accuracy"]}


class KeepBestIoU(Callback):
    """Remember the weights of the epoch with the highest validation mean IoU, in memory."""

    def __init__(self) -> None:
        self.best, self.weights = -1.0, None

    def on_epoch_end(self, state: State) -> None:
        if state.logs["val_mean_iou"] > self.best:
            self.best = state.logs["val_mean_iou"]
            self.weights = {k: v.detach().clone() for k, v in state.model.state_dict().items()}


def fit_unet(model: UNet, x: torch.Tensor, masks: torch.Tensor, val_x: torch.Tensor, val_masks: torch.Tensor,
             settings: SegmentationSettings, progress: str = "auto") -> State:
    """Train with per-pixel cross-entropy (Adam) through the one loop; restores the weights of the best val mean IoU."""
    split = lambda a, b: Split(a, b, np.arange(len(a)))  # noqa: E731
    data = Prepared(split(x, masks), split(val_x, val_masks), split(val_x[:0], val_masks[:0]), None, "shapes")
    spec = TrainSpec(epochs=settings.epochs, batch_size=settings.batch_size, device="cpu", tensorboard=False,
                     optimizer={"name": "adam", "lr": settings.lr}, diagnose=False)
    best = KeepBestIoU()
    state = fit(model, data, spec, [Progress(progress), best], torch.device("cpu"), seed=settings.seed,
                step=PixelWise())
    model.load_state_dict(best.weights)
    return state


def train_segmentation(settings: SegmentationSettings | None = None, runs_dir: str | Path = "runs",
                       progress: str = "auto") -> dict[str, Any]:
    """Generate the shapes set, train a U-Net on it and write a run folder; returns the summary."""
    settings = settings or SegmentationSettings()
    torch.manual_seed(settings.seed)
    parts = {}
    for offset, split in enumerate(("train", "val", "test")):
        images, masks = make_shapes(getattr(settings, split), settings.size, settings.seed * 3 + offset)
        parts[split] = torch.from_numpy(images), torch.from_numpy(masks)
    classes = list(SHAPE_CLASSES)
    model = UNet((1, settings.size, settings.size), len(classes), settings.width)
    folder = RunFolder.create(runs_dir, settings.name)
    write_json(folder.root / "segmentation.json", settings.model_dump(mode="json"))
    started = time.perf_counter()
    state = fit_unet(model, *parts["train"], *parts["val"], settings, progress)
    return finish_segmentation_run(folder, model, state, parts["test"], classes,
                                   {"name": settings.name}, time.perf_counter() - started)


def finish_segmentation_run(folder: RunFolder, model: UNet, state: State, test: tuple[torch.Tensor, torch.Tensor],
                            classes: list[str], head: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Score the test images, then write weights, metrics.jsonl, summary.json (``head`` first), the figure and
    report.html into ``folder``; returns the summary with the folder's path."""
    test_x, test_masks = test
    predicted = predict_masks(model, test_x)
    summary = {**head, "model": "unet", "classes": classes,
               "params": sum(p.numel() for p in model.parameters()), "train_seconds": round(seconds, 3),
               "epochs_run": len(state.history), "final_epoch": state.history[-1],
               "test": segmentation_metrics(predicted, test_masks, classes)}
    save_tensors(folder.weights, model.state_dict())
    atomic_write_text(folder.metrics, "".join(json.dumps(row) + "\n" for row in state.history))
    write_json(folder.summary, summary)
    _prediction_figure(test_x[:6], test_masks[:6], predicted[:6], folder.root / "figures" / "predictions.png")
    write_segmentation_report(folder.root, summary, state.history)
    summary["folder"] = str(folder.root)
    return summary


def _prediction_figure(images: torch.Tensor, masks: torch.Tensor, predicted: torch.Tensor, path: Path) -> Path:
    """Rows of image, true mask and predicted mask."""
    plt = figures.pyplot()
    fig, axes = plt.subplots(len(images), 3, figsize=(6, 2 * len(images)), squeeze=False)
    for row, (image, mask, guess) in enumerate(zip(images, masks, predicted)):
        for ax, picture, title in zip(axes[row], (image[0], mask, guess), ("image", "true mask", "predicted")):
            ax.imshow(picture.numpy(), cmap="gray" if title == "image" else "viridis",
                      vmin=0, vmax=1 if title == "image" else len(SHAPE_CLASSES) - 1)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    return figures.save_figure(fig, path)
