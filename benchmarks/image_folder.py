"""An image folder of 10,000 64x64 JPEGs: first-epoch decoding, later epochs, and peak memory.

Run it from the repository root:

    .venv/bin/python benchmarks/image_folder.py [--images 10000] [--workers 2]

What it measures:

* **first-epoch decode throughput**: ``lamina.data.images.decode_set`` on the
  folder with an empty cache (Pillow decoding in ``--workers`` processes into
  the memory-mapped uint8 cache), images per second. Target: >= 2,000 images/s
  with 2 workers on 2 cores. Also images per CPU-second (this process and its
  workers), which a loaded machine does not change: what whole cores would give.
* **later epochs against in-memory data**: ``lamina.trainer.train`` for a few
  epochs of a small CNN from the folder (its decoded set already cached) and
  from the same pixels saved as an NPZ (held in memory), alternating; the
  ratio of their ``seconds_per_epoch``. Target: within 1.2x.
* **peak memory**: in a fresh process (torch and lamina imported), the growth
  of peak resident memory (``ru_maxrss``) while ``prepare_data`` builds the
  train/val/test tensors, from the folder (cached) and from the NPZ, against
  the data's uint8 size. Target: <= 1.5x the uint8 size plus the model.

Timings on a shared machine are noisy: compare the ratios, which are taken side
by side in one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIDE = 64
CLASSES = 10
CHILD = r"""
import json, resource, sys, torch
from lamina.config import parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.nn.build import build_model
from lamina.trainer import train
config = json.loads(sys.argv[1])
torch.set_num_threads(2)
spec = parse_run_spec(config)
if sys.argv[2] == "memory":
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = prepare_data(spec.data)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = build_model(spec.model, data.input_shape, data.output_shape).model
    print(json.dumps({"grown_kib": peak - before, "params": sum(p.numel() for p in model.parameters())}))
else:
    summary = json.load(open(train(config, progress="none").folder.summary))
    print(json.dumps({"seconds_per_epoch": summary["seconds_per_epoch"], "accuracy": summary["test"]["accuracy"]}))
"""


def write_folder(root: Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` 64x64 RGB JPEGs in CLASSES class folders (a class's colour gradient plus noise); returns their pixels
    in the folder's listing order (class by class, then by name), (n, 3, 64, 64) uint8."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, SIDE, dtype=np.float32)
    pixels = np.empty((n, 3, SIDE, SIDE), np.uint8)
    labels = np.arange(n) % CLASSES
    order = np.argsort(labels, kind="stable")
    for slot, i in enumerate(order):
        label = int(labels[i])
        angle = 2 * np.pi * label / CLASSES
        field = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
        image = np.stack([field * (c + 1) / 3 for c in range(3)], axis=-1) * 160 + rng.normal(40, 25, (SIDE, SIDE, 3))
        image = np.clip(image, 0, 255).astype(np.uint8)
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(image, "RGB").save(path, quality=90)
        pixels[slot] = np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)
    return pixels


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (decoding workers), user plus system."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def decode_rate(root: Path, cache: Path, workers: int) -> tuple[float, float]:
    """Images per second decoding the folder into an empty cache, and images per CPU-second spent on it.

    The second does not depend on how much of the machine other jobs take: on a loaded machine it
    says what the same code does with whole cores to itself.
    """
    from lamina.config import ImageSpec
    from lamina.data.images import decode_set, find_class_folder

    files, _, _ = find_class_folder(root)
    started, cpu = time.perf_counter(), cpu_seconds()
    decoded = decode_set(files, ImageSpec(cache=str(cache), workers=workers, channels=3, size=[SIDE, SIDE]))
    seconds = time.perf_counter() - started
    assert decoded.pixels.shape == (len(files), 3, SIDE, SIDE)
    return len(files) / seconds, len(files) / (cpu_seconds() - cpu)


def pillow_rate(root: Path, count: int = 500) -> tuple[float, float]:
    """Images per second and per CPU-second of a bare Pillow loop in this process (open, convert, to numpy)."""
    from PIL import Image

    files = sorted(root.rglob("*.jpg"))[:count]
    started, cpu = time.perf_counter(), time.process_time()
    for path in files:
        with Image.open(path) as im:
            np.asarray(im.convert("RGB"))
    return len(files) / (time.perf_counter() - started), len(files) / (time.process_time() - cpu)


def child(config: dict, what: str) -> dict:
    """In a fresh process: ``memory`` (peak memory growth of preparing the data) or ``train`` (epoch time)."""
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config), what], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"training {config['name']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Write the folder, time decoding, then train from the folder and from the same arrays, side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        pixels = write_folder(tmp / "photos", args.images)
        labels = np.repeat(np.arange(CLASSES), np.bincount(np.arange(args.images) % CLASSES))
        np.savez(tmp / "arrays.npz", x=pixels, y=labels)
        print(f"wrote {args.images} {SIDE}x{SIDE} JPEGs in {time.perf_counter() - started:.1f}s")
        rates = {w: decode_rate(tmp / "photos", tmp / f"cache-{w}", w) for w in sorted({0, args.workers})}
        wall, cpu = pillow_rate(tmp / "photos")
        print(f"reference: a bare Pillow loop in one process decodes {wall:,.0f} images/s here "
              f"({cpu:,.0f} per CPU-second)")
        for workers, (rate, per_cpu) in rates.items():
            print(f"first-epoch decode, {workers} worker process(es): {rate:,.0f} images/s (target >= 2,000); "
                  f"{per_cpu:,.0f} images per CPU-second")
        uint8_mb = pixels.nbytes / 2**20
        common = {"seed": 0, "model": {"arch": "cnn", "channels": [8, 16], "dense": [32]},
                  "train": {"epochs": args.epochs, "batch_size": 128, "tensorboard": False, "diagnose": False}}
        sources = {"folder": {"path": str(tmp / "photos"),
                              "image": {"cache": str(tmp / f"cache-{args.workers}"), "channels": 3}},
                   "in-memory": {"path": str(tmp / "arrays.npz"), "view": "image"}}
        results: dict[str, list[dict]] = {name: [] for name in sources}
        for repeat in range(args.repeats):
            for name in (list(sources) if repeat % 2 == 0 else list(sources)[::-1]):
                config = {**common, "name": name, "runs_dir": str(tmp / "runs"), "data": sources[name]}
                results[name].append(child(config, "train"))
        epoch = {name: min(r["seconds_per_epoch"] for r in rows) for name, rows in results.items()}
        print(f"later epochs: folder {epoch['folder']:.3f}s, in-memory {epoch['in-memory']:.3f}s per epoch "
              f"(best of {args.repeats}), ratio {epoch['folder'] / epoch['in-memory']:.2f}x (target <= 1.2x); "
              f"test accuracy {results['folder'][0]['accuracy']:.3f} vs {results['in-memory'][0]['accuracy']:.3f}")
        for name in sources:
            config = {**common, "name": name, "runs_dir": str(tmp / "runs"), "data": sources[name]}
            memory = child(config, "memory")
            grown, model = memory["grown_kib"] / 1024, memory["params"] * 4 / 2**20
            print(f"peak memory growth preparing the data, {name}: {grown:.0f} MiB = {grown / uint8_mb:.2f}x the "
                  f"uint8 size ({uint8_mb:.0f} MiB; model {model:.2f} MiB; target <= 1.5x plus the model)")

if __name__ == "__main__":
    main()
