"""Character GPT steps through the one loop (``lamina.train.loop.fit``) against a hand-written loop, side by side.

Both train the same model (lamina's GPT, 4 layers, 4 heads, width 128, context 64, no dropout)
from the same initial weights on the same random windows (``WindowBatches``' seeded draw) with
AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1), a 5% warmup + cosine schedule and gradient
clipping at 1.0:

* **loop**: ``fit`` with the ``NextToken`` step: what ``lamina train`` runs for a language model
  (autocast context, accumulation bookkeeping, the non-finite check, clipping, events), minus the
  run folder's callbacks; each round is one epoch of ``--chunk`` steps and its validation (one window);
* **hand**: the loop ``lamina train`` ran before: draw windows, forward, cross-entropy, backward,
  clip, step, schedule, and a ``float(loss)`` finite check each step.

Rounds interleave the two (order alternating) after a warm-up; each builds its optimizer and
schedule inside the timing, in the process's CPU time. Medians of ms/step and the ratio loop/hand are printed; the target
is <= 1.05x. On a shared machine absolute times drift, the ratio much less.

    OMP_NUM_THREADS=1 python benchmarks/char_lm_loop.py [--threads 1] [--batch 16] [--rounds 7] [--chunk 25]
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lamina.config import OptimizerSpec, ScheduleSpec, TrainSpec
from lamina.data.prepare import Prepared, Split
from lamina.lm.corpus import load_corpus, random_windows
from lamina.lm.nexttoken import NextToken, WindowBatches
from lamina.nn.models.language import GPT, GPTOptions
from lamina.train.loop import fit
from lamina.train.optim import make_optimizer, make_schedule

TEXT = Path(__file__).resolve().parents[1] / "examples" / "data" / "tinyshakespeare.txt"
CONTEXT = 64
OPTIMIZER = OptimizerSpec(name="adamw", lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99))
SCHEDULE = ScheduleSpec(name="cosine", warmup_epochs=0.05, min_lr_ratio=0.1)


def hand(model: GPT, ids: torch.Tensor, batch: int, steps: int) -> float:
    """Seconds for ``steps`` steps of the hand-written loop."""
    started = time.process_time()
    optimizer = make_optimizer(model.parameters(), OPTIMIZER)
    scheduler = make_schedule(optimizer, SCHEDULE, 1, steps)
    windows = torch.Generator().manual_seed(0)
    model.train()
    for step in range(steps):
        x, y = random_windows(ids, CONTEXT, batch, windows)  # (B, T), (B, T)
        loss = F.cross_entropy(model(x).float().flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if not math.isfinite(float(loss.detach())):
            raise RuntimeError(f"diverged at step {step}")
    return time.process_time() - started


def loop(model: GPT, ids: torch.Tensor, batch: int, steps: int) -> float:
    """Seconds for ``steps`` steps of ``fit`` with the next-token step (one epoch, validated on one window)."""
    started = time.process_time()
    spec = TrainSpec(epochs=1, batch_size=batch, optimizer=OPTIMIZER, schedule=SCHEDULE, clip_norm=1.0,
                     tensorboard=False, diagnose=False)
    val_x, val_y = random_windows(ids, CONTEXT, 1, torch.Generator().manual_seed(1))
    held = Split(val_x, val_y, np.arange(1))
    fit(model, Prepared(held, held, held, None, "bench"), spec, [], torch.device("cpu"),
        step=NextToken(val_x, val_y), batches=WindowBatches(ids, CONTEXT, batch, steps, 0, torch.device("cpu")))
    return time.process_time() - started


def main() -> None:
    """Interleave the loop and the hand-written steps; print medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=str(TEXT))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ids = load_corpus(args.text, 0.1, CONTEXT).train
    start = GPT(int(ids.max()) + 1, GPTOptions(layers=4, heads=4, width=128, context=CONTEXT, dropout=0.0))
    contenders = {"loop": loop, "hand": hand}
    for run in contenders.values():  # warm-up: allocator, kernels
        run(copy.deepcopy(start), ids, args.batch, 5)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(args.rounds):
        for name in (list(contenders) if round_ % 2 == 0 else list(contenders)[::-1]):
            model = copy.deepcopy(start)
            times[name].append(1000 * contenders[name](model, ids, args.batch, args.chunk) / args.chunk)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"batch {args.batch} x context {CONTEXT}, {args.threads} threads, {args.rounds} rounds of {args.chunk} steps")
    for name, value in medians.items():
        print(f"{name:5s} {value:7.1f} ms/step")
    ratios = [a / b for a, b in zip(times["loop"], times["hand"], strict=True)]
    print(f"ratio loop/hand: {medians['loop'] / medians['hand']:.3f} of medians, "
          f"{statistics.median(ratios):.3f} median of per-round ratios")


if __name__ == "__main__":
    main()
