"""Train a U-Net on the synthetic shapes set and measure pixel accuracy and IoU (torchmetrics).

    loop.fit with the pixel-wise step: per batch, per-pixel cross-entropy -> state.update
    per epoch: validation mean IoU and pixel accuracy -> checkpoints (the best by val_mean_iou)
    restore the best weights (train.restore_best) -> test pixel accuracy, IoU per class and mean

The train section acts as in any run (optimizer, schedule, clipping, precision, accumulation,
early stopping, TensorBoard, checkpoints and exact resume); the fields of :data:`REFUSED` do
not apply to a U-Net and are refused, naming the field, when a config sets them. The run folder
holds segmentation.json (the settings) or config.yaml, model.safetensors, checkpoints/,
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
from lamina.device import resolve_device
from lamina.files import atomic_write_text, save_tensors, write_json
from lamina.nn.models.unet import UNet
from lamina.report import figures
from lamina.runs import RunFolder
from lamina.segment.report import write_segmentation_report
from lamina.train.callbacks import Callback, EarlyStopping, Progress, TensorBoardLog, check_monitor
from lamina.train.checkpoint import Checkpoints, load_best_weights
from lamina.train.fields import refuse_train_fields
from lamina.train.hooks import family_observers
from lamina.train.loop import State, TrainingDiverged, fit
from lamina.train.steps import Step

# The train fields a U-Net cannot use: refused, naming the field, when a config sets them.
REFUSED = {"loss": "the pixel-wise cross-entropy is the U-Net's loss",
           "label_smoothing": "the pixel-wise cross-entropy takes no smoothing",
           "huber_delta": "the pixel-wise cross-entropy is the U-Net's loss",
           "epoch_metrics": "its metrics are pixel accuracy and IoU", "class_weight": "the pixel-wise loss takes none",
           "log": "segmentation runs log to TensorBoard only (train.tensorboard)", "adversarial": "it needs a classifier",
           "lr_groups": "it needs a backbone", "selfsup": "see lamina pretrain",
           "augment": "a mask would need the image's transform"}
MONITORS = ("val_mean_iou", "val_pixel_accuracy", "train_loss")  # what each epoch's logs hold; the first by default


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
    """Per-pixel predicted classes (N, H, W) in eval mode, on the CPU (the model may sit on another device)."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(chunk.to(device)).argmax(1).cpu() for chunk in x.split(batch_size)])


def check_unet_train(train: TrainSpec) -> None:
    """Refuse the train fields a U-Net cannot use, naming the field and the family, before training."""
    refuse_train_fields(train, REFUSED, "unet", "model.arch: unet")
    if "monitor" in train.model_fields_set:
        check_monitor(train.monitor, list(MONITORS), "train.monitor")
    if train.early_stopping is not None:
        check_monitor(train.early_stopping.monitor, list(MONITORS), "train.early_stopping.monitor")


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


def fit_unet(model: UNet, x: torch.Tensor, masks: torch.Tensor, val_x: torch.Tensor, val_masks: torch.Tensor,
             train: TrainSpec, seed: int, folder: RunFolder, config: dict[str, Any], progress: str = "auto",
             resume: Any = None, extra_callbacks: list[Callback] | None = None) -> State:
    """Train with per-pixel cross-entropy through the one loop, checkpointing into ``folder``.

    ``train`` acts as in any run (see :func:`check_unet_train` for what is refused); ``config`` is
    what checkpoints record (a resume must match it). With ``train.restore_best`` the weights of the
    best monitored epoch (val_mean_iou unless ``train.monitor`` is set) are restored at the end.
    """
    check_unet_train(train)
    if train.threads is not None:
        torch.set_num_threads(train.threads)
    split = lambda a, b: Split(a, b, np.arange(len(a)))  # noqa: E731
    data = Prepared(split(x, masks), split(val_x, val_masks), split(val_x[:0], val_masks[:0]), None, "shapes")
    monitor = train.monitor if "monitor" in train.model_fields_set else MONITORS[0]
    checkpoints = Checkpoints(folder.checkpoints, train.checkpoint, monitor,
                              "min" if monitor == "train_loss" else "max", config)
    callbacks: list[Callback] = [Progress(progress)]
    if train.tensorboard:
        callbacks.append(TensorBoardLog(folder.tensorboard))
    if train.early_stopping is not None:
        es = train.early_stopping
        callbacks.append(EarlyStopping.from_spec(es, higher=lambda monitor: monitor != "train_loss"))  # IoU rises
    device = resolve_device(train.device)
    observers = family_observers(train, data, device)  # train.diagnose: the gradient/activation monitor
    try:
        state = fit(model, data, train, callbacks + (extra_callbacks or []) + observers.observers + [checkpoints],
                    device, seed=seed, resume=resume, step=PixelWise())
    except TrainingDiverged as exc:
        observers.finish(folder.root, progress, diverged=str(exc))
        raise
    atomic_write_text(folder.metrics, "".join(json.dumps(row) + "\n" for row in state.history))
    observers.finish(folder.root, progress)  # monitor.json and diagnosis.json, with train.diagnose
    if train.restore_best and checkpoints.best is not None:
        model.load_state_dict(load_best_weights(folder.checkpoints))
    model.cpu()
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
    train = TrainSpec(epochs=settings.epochs, batch_size=settings.batch_size, device="cpu", tensorboard=False,
                      optimizer={"name": "adam", "lr": settings.lr})
    started = time.perf_counter()
    state = fit_unet(model, *parts["train"], *parts["val"], train, settings.seed, folder,
                     {"segmentation": settings.model_dump(mode="json")}, progress)
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
