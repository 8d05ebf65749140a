"""Each precision (fp32, bf16, fp16) trains the digits CNN and a small character GPT on one device, and learns.

* **CNN**: ``lamina.fit`` of the digits ``cnn`` preset with ``train.device`` and
  ``train.precision`` set, i.e. lamina's own loop (autocast, and a GradScaler for fp16).
  Passes when the test accuracy reaches ``CNN_ACCURACY``.
* **char GPT**: ``lamina.nn.models.language.GPT`` (4 x 4 x 128, context 64) on tinyshakespeare,
  lamina's AdamW; the step is written here (forward and loss under autocast, a GradScaler
  for fp16) because ``lamina.lm.train`` has no precision option. Passes when the validation
  loss ends below ``LM_LOSS_SHARE`` of the unigram baseline and within ``LM_GAP`` of fp32's.

Prints one line per run (seconds per epoch or ms per step, the score) and exits 1 if any run
failed its bar, so ``benchmarks/gpu_check.sh`` stops loudly.

    python benchmarks/gpu_precision.py --device cuda
    python benchmarks/gpu_precision.py --device cpu --dry-run   # tiny models, a few steps, no bars: the script runs
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

import lamina
from lamina.config import OptimizerSpec
from lamina.lm.corpus import load_corpus, random_windows, tiled_windows
from lamina.lm.train import mean_loss, unigram_loss
from lamina.nn.models.language import GPT, GPTOptions
from lamina.train.optim import make_optimizer

TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
CNNS = {"check": {"arch": "cnn", "channels": [32, 64], "dense": [128]}, "dry": {"arch": "cnn", "channels": [4], "dense": [8]}}
GPTS = {"check": GPTOptions(layers=4, heads=4, width=128, context=64, dropout=0.0),
        "dry": GPTOptions(layers=1, heads=2, width=16, context=16, dropout=0.0)}
CNN_ACCURACY = 0.95
LM_LOSS_SHARE = 0.75  # of the unigram loss (about 3.3 nats): a model that learned context, not letter counts
LM_GAP = 0.1  # nats above fp32's final validation loss


def train_cnn(device: str, precision: str, epochs: int, runs_dir: str, model: dict) -> tuple[float, float]:
    """Seconds per epoch and test accuracy of lamina's CNN preset on digits in ``precision``."""
    run = lamina.fit({"name": f"cnn-{precision}", "seed": 0, "runs_dir": runs_dir,
                      "data": {"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
                      "model": model,
                      "train": {"epochs": epochs, "batch_size": 64, "device": device, "precision": precision,
                                "optimizer": {"name": "adamw", "lr": 0.003}, "tensorboard": False}}, progress="none")
    summary = json.loads((run.folder.root / "summary.json").read_text())
    return summary["train_seconds"] / summary["epochs_run"], summary["test"]["accuracy"]


def train_char_gpt(device: torch.device, precision: str, steps: int, corpus, size: GPTOptions) -> tuple[float, float]:
    """Milliseconds per step and final validation loss of a small character GPT trained in ``precision``."""
    torch.manual_seed(0)
    model = GPT(corpus.tokenizer.vocab, size).to(device).train()
    optimizer = make_optimizer(model.parameters(), OptimizerSpec(name="adamw", lr=3e-3, weight_decay=0.1,
                                                                 betas=(0.9, 0.99)))
    dtype = PRECISIONS[precision]
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    ids, windows = corpus.train.to(device), torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for _ in range(steps):
        x, y = random_windows(ids, size.context, 64, windows)  # (B, T) each
        with autocast:
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
    if device.type == "cuda":
        torch.cuda.synchronize()
    ms = 1000 * (time.perf_counter() - started) / steps
    val_x, val_y = (t.to(device) for t in tiled_windows(corpus.val, size.context))
    with torch.no_grad(), autocast:
        return ms, mean_loss(model, val_x, val_y)


def main() -> int:
    """Run both models in every precision; print a line each; 1 if any missed its bar."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=10, help="CNN epochs")
    parser.add_argument("--steps", type=int, default=1500, help="char GPT steps")
    parser.add_argument("--dry-run", action="store_true", help="tiny models, 1 epoch, 3 steps, no bars")
    parser.add_argument("--text", default=str(TEXT))
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA device")
    kind = "dry" if args.dry_run else "check"
    epochs, steps = (1, 3) if args.dry_run else (args.epochs, args.steps)
    failed = []
    with tempfile.TemporaryDirectory(prefix="lamina-gpu-") as runs_dir:
        train_cnn(args.device, "fp32", 1, runs_dir, CNNS[kind])  # warm-up (imports, kernels), not reported
        for precision in PRECISIONS:
            seconds, accuracy = train_cnn(args.device, precision, epochs, runs_dir, CNNS[kind])
            ok = accuracy >= CNN_ACCURACY
            failed += [] if ok else [f"cnn {precision}"]
            print(f"cnn       {precision}  {seconds:7.3f} s/epoch  test accuracy {accuracy:.4f}  "
                  f"(bar {CNN_ACCURACY}: {'ok' if ok else 'MISSED'})", flush=True)
    corpus = load_corpus(args.text, 0.1, GPTS[kind].context)
    unigram = unigram_loss(corpus.train, corpus.val)
    reference = None
    for precision in PRECISIONS:
        ms, loss = train_char_gpt(device, precision, steps, corpus, GPTS[kind])
        reference = loss if reference is None else reference
        ok = loss <= LM_LOSS_SHARE * unigram and loss <= reference + LM_GAP
        failed += [] if ok else [f"char GPT {precision}"]
        print(f"char GPT  {precision}  {ms:7.2f} ms/step  val loss {loss:.4f}  (bar: <= {LM_LOSS_SHARE * unigram:.3f} "
              f"and <= fp32 {reference:.4f} + {LM_GAP}: {'ok' if ok else 'MISSED'})", flush=True)
    if failed and not args.dry_run:
        print(f"error: {', '.join(failed)} did not learn enough", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
