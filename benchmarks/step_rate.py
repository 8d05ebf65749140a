"""How close a training step gets to this machine's float32 matmul rate: width-1024 MLP, batch 256.

Run it from the repository root:

    .venv/bin/python benchmarks/step_rate.py [--threads 1 2] [--rounds 5]

The model is 64-1024-1024-10 on digits (the 1,078 training rows repeated 10 times,
so an epoch is 42 steps and the one validation pass per epoch is a small share). Three
contenders train it one epoch per round, interleaved, after an untimed warm-up:

* **hand, Adam**: a plain loop over in-memory tensors with ``torch.optim.Adam`` (the
  for-each implementation, torch's default on a CPU);
* **hand, fused**: the same loop with ``Adam(fused=True)``;
* **lamina**: ``lamina.train.loop.fit`` with its in-memory batch path and no callbacks
  (fused Adam, the finiteness check, the epoch's validation pass).

A step's FLOPs are 6 x its matmul multiply-adds x 256 (forward 2, backward 4). The rate
is measured at the same thread count (2048x2048 float32, best of 5). Printed per thread
count: median ms per step, the step's achieved GFLOP/s and its fraction of the matmul rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from lamina.config import parse_run_spec
from lamina.data.prepare import Prepared, prepare_data
from lamina.train.loop import fit

WIDTHS = (64, 1024, 1024, 10)
BATCH = 256
REPEAT = 10


def mlp() -> nn.Module:
    """64-1024-1024-10 with ReLU."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def step_flops() -> float:
    """Matmul FLOPs of one training step at batch 256."""
    macs = sum(a * b for a, b in zip(WIDTHS, WIDTHS[1:]))
    return 6.0 * macs * BATCH


def hand(data: Prepared, fused: bool) -> int:
    """One epoch of a plain loop; returns the number of steps taken."""
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    x, y = data.train.x, data.train.y
    order = torch.randperm(len(x))
    steps = 0
    for start in range(0, len(x), BATCH):
        index = order[start : start + BATCH]
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
    return steps


def lamina_epoch(data: Prepared) -> int:
    """One epoch of lamina's loop; returns the number of steps taken."""
    spec = parse_run_spec({"data": {"dataset": "digits", "view": "flat"}, "model": {"arch": "mlp"},
                           "train": {"epochs": 1, "batch_size": BATCH, "tensorboard": False,
                                     "optimizer": {"name": "adam", "lr": 1e-3}, "device": "cpu"}})
    state = fit(mlp(), data, spec.train, [], torch.device("cpu"), batch_path="memory")
    return state.step


CONTENDERS = {"hand, Adam": lambda d: hand(d, False), "hand, fused": lambda d: hand(d, True), "lamina": lamina_epoch}


def matmul_rate() -> float:
    """Measured float32 matmul FLOP/s (2048x2048, best of 5)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - began)
    return 2 * 2048**3 / best


def main() -> None:
    """Measure each contender's ms per step at each thread count and print the fraction of the matmul rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = prepare_data(parse_run_spec({"data": {"dataset": "digits", "view": "flat"}, "model": {"arch": "mlp"}}).data)
    train = dataclasses.replace(data.train, x=data.train.x.repeat(REPEAT, 1), y=data.train.y.repeat(REPEAT),
                                rows=data.train.rows.repeat(REPEAT))
    data = dataclasses.replace(data, train=train)
    flops = step_flops()
    print(f"torch {torch.__version__}; 64-1024-1024-10 MLP, batch {BATCH}, {flops / 1e9:.2f} GFLOP per step; "
          f"median of {args.rounds} interleaved rounds")
    for threads in args.threads:
        torch.set_num_threads(threads)
        rate = matmul_rate()
        for job in CONTENDERS.values():
            job(data)
        per_step: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        names = list(CONTENDERS)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                began = time.perf_counter()
                steps = CONTENDERS[name](data)
                per_step[name].append((time.perf_counter() - began) / steps)
        print(f"{threads} thread(s): float32 matmul {rate / 1e9:.0f} GFLOP/s")
        for name, times in per_step.items():
            t = statistics.median(times)
            print(f"  {name:12} {1000 * t:7.2f} ms/step  {flops / t / 1e9:6.1f} GFLOP/s  {100 * flops / t / rate:5.1f}% of matmul")


if __name__ == "__main__":
    main()
