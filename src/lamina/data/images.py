"""Image folders: find the files, decode them once (Pillow, worker processes), cache them as uint8.

A classification folder holds one sub-folder per class (its name is the label);
a segmentation folder holds images at its top level, each with a mask PNG of
the same name in ``data.masks`` (class index per pixel). Every format Pillow
reads works (PNG, JPEG, BMP, WebP, GIF's first frame), in any mode: greyscale,
RGB, RGBA (alpha dropped), palette or 16-bit (scaled to 8 bits).

Decoded images are written to a memory-mapped uint8 file, (N, C, H, W), in the
cache folder, under a key made of the files' paths, sizes and modification
times plus the decoding settings: a later epoch or a later run with the same
files maps the file and decodes nothing. Model inputs are the pixels divided
by 255, so training, evaluation, ``lamina predict`` and ``lamina serve`` see
the same numbers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lamina.config import DataSpec, ImageSpec
from lamina.data.prepare import Prepared, Split
from lamina.data.preprocess import InputPrep, Preprocessor, TargetPrep
from lamina.data.splits import split_indices
from lamina.errors import ConfigError, DataError
from lamina.files import atomic_write_text, read_json

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
CACHE_FORMAT = "lamina-image-cache-2"  # 2: JPEGs decoded through draft()
PIXEL_MAX = np.float32(255.0)
SCALE_CHUNK = 1024  # images converted to float at a time when a split is built
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


@dataclass
class Decoded:
    """A decoded set: uint8 pixels (N, C, H, W), possibly memory-mapped, and the files they came from."""

    pixels: np.ndarray
    files: list[Path]
    skipped: int = 0


def find_class_folder(root: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """Image files, their labels and the sorted class names of a folder with one sub-folder per class."""
    if not root.is_dir():
        raise DataError(f"data.path {root} is not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"data.path {root} has no class sub-folders; put each class's images in a folder named after it")
    if len(classes) == 1:
        raise DataError(f"data.path {root} has one class folder ('{classes[0]}'); classification needs at least two")
    files, labels = [], []
    for name in classes:
        found = _files_in(root / name)
        if not found:
            raise DataError(f"class folder {root / name} is empty; every class needs at least one image")
        files += found
        labels += [name] * len(found)
    return files, np.asarray(labels), classes


def _files_in(folder: Path) -> list[Path]:
    """The visible regular files of a folder, sorted by name (hidden files such as .DS_Store are ignored)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def scale_pixels(pixels: np.ndarray) -> np.ndarray:
    """Model inputs from uint8 pixels: float32 in [0, 1] (the one scaling every path uses)."""
    return np.asarray(pixels, dtype=np.float32) / PIXEL_MAX


def scaled_rows(pixels: np.ndarray, rows: np.ndarray, chunk: int = SCALE_CHUNK) -> torch.Tensor:
    """Model inputs for ``rows`` of uint8 ``pixels``, filled into one float32 tensor ``chunk`` rows at a time.

    The same numbers as :func:`scale_pixels`, but the only full-size allocation is the result (no uint8
    copy of the split, no float temporary from the division).
    """
    out = torch.empty((len(rows), *pixels.shape[1:]), dtype=torch.float32)
    for start in range(0, len(rows), chunk):
        part = torch.from_numpy(np.ascontiguousarray(pixels[rows[start:start + chunk]]))
        out[start:start + chunk] = part
        out[start:start + chunk].div_(float(PIXEL_MAX))
    return out


def image_prep(shape: list[int]) -> InputPrep:
    """The saved input transform of an image run: pixels / 255 at the run's (channels, height, width)."""
    n = int(np.prod(shape))
    return InputPrep("array", list(shape), feature_names=[], fill=[0.0] * n, offset=[0.0] * n, divisor=[255.0] * n)


def prepare_images(spec: DataSpec, fitted: Preprocessor | None = None) -> Prepared:
    """An image-class folder as train/val/test tensors; with ``fitted``, at the run's saved size and channels."""
    files, labels, classes = find_class_folder(Path(spec.path))
    return _prepare_files(files, labels, classes, spec, fitted)


def prepare_image_table(spec: DataSpec, fitted: Preprocessor | None = None) -> Prepared:
    """A table of image paths (``data.image_column``) and labels (``data.target``) as train/val/test tensors.

    Paths are relative to the table's folder (an absolute path is taken as it is). A missing file is an
    error naming its row, or is skipped and counted with ``data.on_bad_file: skip``, as an unreadable one is.
    """
    files, labels, classes, missing = read_image_table(spec)
    return _prepare_files(files, labels, classes, spec, fitted, missing)


def read_image_table(spec: DataSpec) -> tuple[list[Path], np.ndarray, list[str], int]:
    """The image files, labels and sorted class names a table lists, and how many listed files are missing."""
    table_path = Path(spec.path)
    if not isinstance(spec.target, str):
        raise ConfigError(f"data.image_column needs data.target: the one column of {table_path} that holds each "
                          f"image's label; got {spec.target}")
    columns = table_columns(table_path, {"data.image_column": spec.image_column, "data.target": spec.target},
                            spec.format, spec.na_values)
    paths, labels = columns["data.image_column"], columns["data.target"]
    files = [table_path.parent / p.strip() for p in paths]
    present = [f.is_file() for f in files]
    if not all(present) and spec.on_bad_file != "skip":
        missing_file_error(table_path, files, present)
    kept = [i for i, ok in enumerate(present) if ok]
    if not kept:
        raise DataError(f"none of the {len(files)} image files {table_path} lists exists")
    labels = np.asarray([labels[i].strip() for i in kept])
    classes = sorted(set(labels.tolist()))
    if len(classes) < 2:
        raise DataError(f"{table_path} column '{spec.target}' holds one class ('{classes[0]}'); classification "
                        "needs at least two")
    return [files[i] for i in kept], labels, classes, len(files) - len(kept)


def table_columns(table_path: Path, wanted: dict[str, str], fmt: str = "auto",
                  na_values: list[str] | None = None) -> dict[str, list[str]]:
    """The columns ``wanted`` ({config field: column name}) of a table as strings; every cell must be filled."""
    from lamina.data.columns import as_strings
    from lamina.data.readers import NA_VALUES, read_table

    table = read_table(table_path, fmt, NA_VALUES if na_values is None else na_values)
    columns = {}
    for field, name in wanted.items():
        if name not in table.column_names:
            raise DataError(f"{table_path} has no column '{name}' ({field}); columns: {', '.join(table.column_names)}")
        values = as_strings(table.column(name)).to_pylist()
        empty = next((i for i, v in enumerate(values) if v is None or not str(v).strip()), None)
        if empty is not None:
            raise DataError(f"{table_path} row {empty + 2}: the {field} cell is empty; every row needs an image "
                            "path" + (" and a label" if len(wanted) > 1 else ""))
        columns[field] = values
    return columns


def missing_file_error(table_path: Path, files: list[Path], present: list[bool]) -> None:
    """Raise the error for the first listed image file that does not exist, naming its row."""
    row = present.index(False)
    raise DataError(f"{table_path} row {row + 2}: image file {files[row]} does not exist (paths are relative to "
                    "the table's folder); fix the path, or set data.on_bad_file: skip")


def listed_images(table_path: Path, column: str) -> list[Path]:
    """The image files a table lists in ``column`` (relative to the table's folder), for prediction: all must exist."""
    paths = table_columns(table_path, {"data.image_column": column})["data.image_column"]
    files = [table_path.parent / p.strip() for p in paths]
    present = [f.is_file() for f in files]
    if not all(present):
        missing_file_error(table_path, files, present)
    return files


def _prepare_files(files: list[Path], labels: np.ndarray, classes: list[str], spec: DataSpec,
                   fitted: Preprocessor | None, missing: int = 0) -> Prepared:
    """Decode labelled image files (through the cache) and split them into train/val/test tensors."""
    image = spec.image or ImageSpec()
    shape = fitted.inputs.shape if fitted is not None else None
    decoded = decode_set(files, image, spec.on_bad_file, shape)
    if decoded.skipped or missing:
        what = " and ".join(part for part in (f"{decoded.skipped} unreadable" if decoded.skipped else "",
                                              f"{missing} missing" if missing else "") if part)
        print(f"skipped {what} file(s) in {spec.path} (data.on_bad_file: skip)")
        kept = {f: i for i, f in enumerate(files)}
        labels = labels[[kept[f] for f in decoded.files]]
    target = fitted.target if fitted is not None else TargetPrep("binary" if len(classes) == 2 else "multiclass",
                                                                 ["label"], classes=classes)
    prep = fitted or Preprocessor(image_prep(list(decoded.pixels.shape[1:])), target)
    train, val, test = split_indices(len(labels), labels if spec.split.stratify else None,
                                     spec.split.val, spec.split.test, spec.split.seed)
    y = torch.from_numpy(prep.target.encode(labels, str(spec.path)))

    def take(rows: np.ndarray) -> Split:
        return Split(scaled_rows(decoded.pixels, rows), y[torch.from_numpy(rows.astype(np.int64))], rows)

    return Prepared(take(train), take(val), take(test), prep, str(spec.path))


# ---------------------------------------------------------------- decoding


def decode_set(files: list[Path], image: ImageSpec, on_bad_file: str = "error",
               shape: list[int] | None = None) -> Decoded:
    """Decode ``files`` to uint8 (N, C, H, W) through the cache; ``shape`` (C, H, W) fixes channels and size."""
    channels = shape[0] if shape is not None else image.channels
    size = list(shape[1:]) if shape is not None else image.size
    stamp = [[os.path.abspath(f), *_stat(f)] for f in files]  # abspath: no system call per file, unlike resolve()
    folder = cache_folder(image)
    if channels is None or size is None:
        channels, size = _settled_shape(files, channels, size, on_bad_file, folder, stamp)
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, channels, size, image.resize, stamp]).encode()).hexdigest()[:32]
    data, meta = folder / f"{key}.u8", folder / f"{key}.json"
    full = (len(files), channels, *size)
    if not (meta.is_file() and data.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{key}.u8.part-{os.getpid()}"
        np.memmap(partial, np.uint8, "w+", shape=full).flush()
        found = _decode_into(partial, full, files, (channels, size, image.resize), image.workers)
        os.replace(partial, data)
        atomic_write_text(meta, json.dumps({"format": CACHE_FORMAT, "shape": list(full), "bad": found}))
    bad = read_json(meta)["bad"]
    if bad and on_bad_file != "skip":
        index, reason = bad[0]
        raise DataError(f"{files[index]} is not a readable image ({reason}); "
                        "fix or remove it, or set data.on_bad_file: skip")
    return _kept(np.memmap(data, np.uint8, "r", shape=full), files, [i for i, _ in bad])


def cache_folder(image: ImageSpec) -> Path:
    """Where decoded sets live: data.image.cache, else $LAMINA_CACHE/images, else ~/.cache/lamina/images."""
    if image.cache is not None:
        return Path(image.cache)
    return Path(os.environ.get("LAMINA_CACHE") or Path.home() / ".cache" / "lamina") / "images"


def _stat(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror})") from None
    return info.st_size, info.st_mtime_ns


def _kept(pixels: np.ndarray, files: list[Path], bad: list[int]) -> Decoded:
    if not bad:
        return Decoded(pixels, files)
    keep = np.setdiff1d(np.arange(len(files)), bad)
    if not len(keep):
        raise DataError(f"none of the {len(files)} files could be read as an image")
    return Decoded(np.ascontiguousarray(pixels[keep]), [files[i] for i in keep], len(bad))


def _settled_shape(files: list[Path], channels: int | None, size: list[int] | None, on_bad_file: str,
                   folder: Path, stamp: list) -> tuple[int, list[int]]:
    """:func:`_settle_shape` through the cache: the same files (paths, sizes, times) are not opened again."""
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, "shape", channels, size, stamp]).encode()).hexdigest()[:32]
    known = folder / f"{key}.shape.json"
    if known.is_file():
        found = read_json(known)
        return found["channels"], found["size"]
    channels, size = _settle_shape(files, channels, size, on_bad_file)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(known, json.dumps({"channels": channels, "size": size}))
    return channels, size


def _settle_shape(files: list[Path], channels: int | None, size: list[int] | None,
                  on_bad_file: str) -> tuple[int, list[int]]:
    """Channels (1 when every file is greyscale) and size (all files must share it) read from the files' headers."""
    from PIL import Image

    sizes, grey = {}, True
    for path in files:
        try:
            with Image.open(path) as im:
                sizes.setdefault((im.height, im.width), path)
                grey = grey and im.mode in GREY_MODES
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad file
            if on_bad_file != "skip":
                raise DataError(f"{path} is not a readable image ({_reason(exc)}); "
                                "fix or remove it, or set data.on_bad_file: skip") from None
    if size is None:
        if len(sizes) > 1:
            (a, first), (b, second) = list(sizes.items())[:2]
            raise DataError(f"images have mixed sizes ({first.name} is {a[0]}x{a[1]}, {second.name} is {b[0]}x{b[1]}); "
                            "set data.image.size: [height, width] to resize them")
        if not sizes:
            raise DataError("none of the files could be read as an image")
        size = list(next(iter(sizes)))
    return channels or (1 if grey else 3), size


def _reason(exc: BaseException) -> str:
    text = str(exc).split("\n")[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _decode_into(target: Path, shape: tuple[int, ...], files: list[Path], settings: tuple,
                 workers: int) -> list[tuple[int, str]]:
    """Decode ``files`` into the uint8 file ``target``; worker processes each fill a slice. Returns the bad files."""
    if workers <= 1 or len(files) < 64:
        return _decode_chunk(str(target), shape, 0, [str(f) for f in files], settings)
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    step = -(-len(files) // (workers * 4))
    bad = []
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        jobs = [pool.submit(_decode_chunk, str(target), shape, start, [str(f) for f in files[start:start + step]],
                            settings) for start in range(0, len(files), step)]
        for job in jobs:
            bad += job.result()
    return bad


def _decode_chunk(target: str, shape: tuple[int, ...], start: int, paths: list[str],
                  settings: tuple) -> list[tuple[int, str]]:
    """Decode ``paths`` into rows ``start...`` of the memory-mapped file; the (index, reason) of files that fail."""
    out = np.memmap(target, np.uint8, "r+", shape=shape)
    channels, size, resize = settings
    bad = []
    for offset, path in enumerate(paths):
        try:
            out[start + offset] = decode_image(path, channels, size, resize)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad file
            bad.append((start + offset, _reason(exc)))
    out.flush()
    return bad


def decode_image(source: str | Path | bytes, channels: int, size: list[int], resize: str = "fit") -> np.ndarray:
    """One image file (or its bytes) as uint8 (channels, height, width), resized by ``resize`` to ``size``."""
    from PIL import Image, ImageOps

    opened = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    height, width = size
    with opened as im:
        im.seek(0)  # an animated GIF or WebP: the first frame
        if im.format == "JPEG":  # libjpeg converts colour and scales down by 1/2..1/8 while decoding, cheaper
            im.draft("L" if channels == 1 else "RGB", (width, height))  # than after; never below the size
        im = _eight_bit(im, channels)
        if (im.height, im.width) != (height, width):
            if resize == "crop":
                im = ImageOps.fit(im, (width, height), Image.Resampling.BILINEAR)
            elif resize == "pad":
                im = ImageOps.pad(im, (width, height), Image.Resampling.BILINEAR, color=0)
            else:
                im = im.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(im, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def _eight_bit(im, channels: int):
    """The image in mode L (channels 1) or RGB (channels 3); 16- and 32-bit greyscale scaled down to 8 bits."""
    from PIL import Image

    if im.mode.startswith("I") or im.mode == "F":
        values = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I") and values.max(initial=0) > 255 else 255.0
        im = Image.fromarray(np.clip(np.round(values * 255.0 / top), 0, 255).astype(np.uint8), "L")
    wanted = "L" if channels == 1 else "RGB"
    return im if im.mode == wanted else im.convert(wanted)


def image_files(path: Path) -> list[Path]:
    """The image files a prediction reads: the file itself, or a folder's files (its sub-folders too), sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"input {path} does not exist")
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not found:
        raise DataError(f"input folder {path} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return found


def read_image_inputs(files: list[Path], shape: list[int], resize: str) -> np.ndarray:
    """Model inputs (N, C, H, W) float32 for image files at a run's saved (channels, height, width)."""
    out = np.empty((len(files), *shape), np.uint8)
    for i, path in enumerate(files):
        try:
            out[i] = decode_image(path, shape[0], list(shape[1:]), resize)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad file
            raise DataError(f"{path} is not a readable image ({_reason(exc)})") from None
    return scale_pixels(out)


def check_image_shape(shape: list[int], where: str) -> None:
    """Refuse a run whose inputs are not images (channels, height, width) with 1 or 3 channels."""
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise ConfigError(f"{where} was not trained on images (its inputs are shaped {tuple(shape)}); "
                          "give it the kind of file it was trained on")
