"""Segmentation on the user's images: ``data.path`` (images) plus ``data.masks`` (one mask PNG per image, same
file name, class index per pixel), trained with ``lamina train`` through the U-Net trainer of this folder.

Images are decoded and cached as in an image-class folder (:mod:`lamina.data.images`); masks are read
as their stored indices (greyscale or palette PNGs), resized by nearest neighbour when
``data.image.size`` asks for another size. The run folder holds config.yaml, model.safetensors,
metrics.jsonl, summary.json (test pixel accuracy, IoU per class and mean IoU) and report.html.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from pydantic import Field

from lamina.config import DataSpec, ImageSpec, Spec, TrainSpec, format_validation_error
from lamina.data.images import decode_set, scale_pixels
from lamina.data.shapes import SHAPE_CLASSES
from lamina.data.splits import split_indices
from lamina.errors import ConfigError, DataError
from lamina.files import atomic_write_text
from lamina.nn.models.unet import UNet
from lamina.runs import RunFolder
from lamina.segment.train import REFUSED, check_unet_train, finish_segmentation_run, fit_unet
from lamina.train.callbacks import Callback
from lamina.train.checkpoint import resume_point



class UNetSpec(Spec):
    """The U-Net preset: ``width`` channels at full resolution (2x and 4x deeper down)."""

    arch: str = Field("unet", pattern="^unet$")
    width: int = Field(8, gt=0)


class SegmentationRun(Spec):
    """A segmentation run's config: the usual name, seed, runs_dir, data and train sections, a U-Net model."""

    name: str = Field("segmentation", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = 0
    runs_dir: str = "runs"
    data: DataSpec
    model: UNetSpec = Field(default_factory=UNetSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)


def is_segmentation_config(raw: Any) -> bool:
    """Whether plain config data describes a segmentation run (``data.masks`` is set)."""
    return isinstance(raw, dict) and isinstance(raw.get("data"), dict) and raw["data"].get("masks") is not None


def parse_segmentation_run(raw: dict[str, Any], source: str = "config") -> SegmentationRun:
    """Validate plain config data into a SegmentationRun, or raise one ConfigError naming every problem."""
    from pydantic import ValidationError

    try:
        return SegmentationRun.model_validate(raw)
    except ValidationError as exc:
        problems = format_validation_error(exc, "", SegmentationRun).splitlines()
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def image_mask_pairs(images: Path, masks: Path) -> tuple[list[Path], list[Path]]:
    """The images of a folder and each one's mask (same file name, any image suffix, in ``masks``)."""
    for folder, key in ((images, "data.path"), (masks, "data.masks")):
        if not folder.is_dir():
            raise DataError(f"{key} {folder} is not a folder")
    files = sorted(p for p in images.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"data.path {images} holds no images")
    by_stem = {p.stem: p for p in masks.iterdir() if p.is_file() and not p.name.startswith(".")}
    missing = [p.name for p in files if p.stem not in by_stem]
    if missing:
        raise DataError(f"data.masks {masks} has no mask for {missing[0]} ({len(missing)} image(s) without one); "
                        "each image needs a mask PNG of the same name")
    return files, [by_stem[p.stem] for p in files]


def read_masks(paths: list[Path], size: tuple[int, int]) -> np.ndarray:
    """Masks as int64 class indices (N, H, W), resized to ``size`` by nearest neighbour."""
    from PIL import Image

    out = np.empty((len(paths), *size), np.int64)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                if im.mode not in ("L", "P", "I", "I;16", "1"):
                    raise DataError(f"mask {path} is a {im.mode} image; a mask holds one class index per pixel "
                                    "(a greyscale or palette PNG)")
                if (im.height, im.width) != size:
                    im = im.resize(size[::-1], Image.Resampling.NEAREST)
                out[i] = np.asarray(im, dtype=np.int64)
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad file
            raise DataError(f"mask {path} is not a readable image ({type(exc).__name__})") from None
    return out


def train_segmentation_folder(spec: SegmentationRun, progress: str = "auto", resume: bool = False,
                              extra_callbacks: list[Callback] | None = None) -> dict[str, Any]:
    """Train the U-Net preset on an image folder and its masks; writes a run folder and returns the summary.

    The train section acts as in any run or is refused (:func:`lamina.segment.train.check_unet_train`)
    before the images are read. With ``resume``, the newest unfinished run of the config's name
    continues from its newest valid checkpoint; ``extra_callbacks`` join the loop's.
    """
    from lamina.trainer import unfinished_run

    check_unet_train(spec.train)
    parts, classes, count = folder_parts(spec)
    torch.manual_seed(spec.seed)
    model = UNet(tuple(parts["train"][0].shape[1:]), len(classes), spec.model.width)
    config = spec.model_dump(mode="json", exclude={"train": set(REFUSED)})  # without what does not apply
    folder = unfinished_run(spec.runs_dir, spec.name) if resume else None
    checkpoint = None
    if folder is not None:
        checkpoint, notes = resume_point(folder.checkpoints, config)
        for note in notes if progress != "none" else []:
            print(f"note: {note}", file=sys.stderr, flush=True)
    folder = folder or RunFolder.create(spec.runs_dir, spec.name)
    atomic_write_text(folder.config, yaml.safe_dump(config, sort_keys=False))
    started = time.perf_counter()
    state = fit_unet(model, *parts["train"], *parts["val"], spec.train, spec.seed, folder, config, progress,
                     checkpoint, extra_callbacks)
    return finish_segmentation_run(folder, model, state, parts["test"], classes,
                                   {"name": spec.name, "images": count}, time.perf_counter() - started)


def folder_parts(spec: SegmentationRun) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], list[str], int]:
    """The images (scaled) and masks of each split ("train", "val", "test"), the class names and the image count.

    The split is the config's (data.split), so ``lamina evaluate`` rebuilds the very test images training scored.
    """
    files, mask_files = image_mask_pairs(Path(spec.data.path), Path(spec.data.masks))
    image = spec.data.image or ImageSpec()
    pixels = decode_set(files, image).pixels
    if pixels.shape[2] % 4 or pixels.shape[3] % 4:
        raise ConfigError(f"the U-Net needs image sides that are multiples of 4; the images are "
                          f"{pixels.shape[2]}x{pixels.shape[3]} (set data.image.size)")
    masks = read_masks(mask_files, pixels.shape[2:])
    classes = [str(c) for c in range(int(masks.max()) + 1)]
    if len(classes) < 2:
        raise DataError(f"every mask in {spec.data.masks} is all 0; segmentation needs at least two classes")
    if len(classes) > len(SHAPE_CLASSES):  # fit_unet scores validation over the shapes set's class count
        raise ConfigError(f"the masks in {spec.data.masks} hold {len(classes)} classes; the U-Net trainer "
                          f"scores at most {len(SHAPE_CLASSES)} for now")
    split = spec.data.split
    parts = {name: (torch.from_numpy(scale_pixels(pixels[rows])), torch.from_numpy(masks[rows]))
             for name, rows in zip(("train", "val", "test"),
                                   split_indices(len(files), None, split.val, split.test, split.seed))}
    return parts, classes, len(files)
