"""A text classifier's head on frozen sentence features: the one loop (``fit`` + ``Classify``) against a hand loop.

What ``lamina.lm.transfer.fit_text_classifier`` trains when the encoder is frozen: a linear head
(384 -> 4 classes) on precomputed features, AdamW (lr 1e-2, weight decay 0.01), 60 epochs of
batches of 16 drawn in a seeded random order. Features here are random unit vectors (the
encoder's cost is outside both loops). Rounds interleave the two (order alternating) after a
warm-up; each round trains a fresh head from the same initial weights. Times are the process's CPU
time (one thread: what a busy neighbour does not inflate). The target is <= 1.05x.
``hand-fused`` is the hand loop with the fused AdamW kernel lamina's optimizer picks, which
separates the optimizer's cost from the loop's.

    OMP_NUM_THREADS=1 python benchmarks/text_head_loop.py [--rows 40] [--epochs 60] [--rounds 9]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.config import TrainSpec
from lamina.data.prepare import Prepared, Split
from lamina.lm.transfer import Classify
from lamina.train.loop import fit


def hand(head: nn.Linear, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int, fused: bool = False) -> float:
    """Seconds for the loop fit_text_classifier ran before the one loop drove it (``fused``: lamina's AdamW kernel)."""
    started = time.process_time()
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-2, weight_decay=0.01, fused=fused or None)
    order = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for rows in torch.randperm(len(x), generator=order).split(batch):
            loss = F.cross_entropy(head(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return time.process_time() - started


def loop(head: nn.Linear, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int) -> float:
    """Seconds for the same training through ``fit``."""
    started = time.process_time()
    rows, none = Split(x, y, np.arange(len(x))), Split(x[:0], y[:0], np.arange(0))
    spec = TrainSpec(epochs=epochs, batch_size=batch, optimizer={"name": "adamw", "lr": 1e-2, "weight_decay": 0.01},
                     tensorboard=False, diagnose=False)
    fit(head, Prepared(rows, none, none, None, "texts"), spec, [], torch.device("cpu"), step=Classify())
    return time.process_time() - started


def main() -> None:
    """Interleave the two loops; print medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = F.normalize(torch.randn(args.rows, 384), dim=1)
    y = torch.arange(args.rows) % 4
    start = nn.Linear(384, 4)
    contenders = {"loop": loop, "hand": hand,
                  "hand-fused": lambda *a: hand(*a, fused=True)}  # the optimizer lamina's adamw makes
    for run in contenders.values():  # warm-up
        run(copy.deepcopy(start), x, y, 3, args.batch)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(args.rounds):
        for name in (list(contenders) if round_ % 2 == 0 else list(contenders)[::-1]):
            times[name].append(1000 * contenders[name](copy.deepcopy(start), x, y, args.epochs, args.batch))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.rows} rows x 384 features, {args.epochs} epochs of batches of {args.batch}, {args.threads} threads, "
          f"{args.rounds} rounds")
    for name, value in medians.items():
        print(f"{name:5s} {value:7.1f} ms per training")
    for reference in ("hand", "hand-fused"):
        ratios = [a / b for a, b in zip(times["loop"], times[reference], strict=True)]
        print(f"ratio loop/{reference}: {medians['loop'] / medians[reference]:.3f} of medians, "
              f"{statistics.median(ratios):.3f} median of per-round ratios")


if __name__ == "__main__":
    main()
