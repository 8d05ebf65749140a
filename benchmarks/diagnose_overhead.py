"""What the training monitors (train.diagnose, on by default) cost, side by side in one run.

Run it from the repository root:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diagnose_overhead.py [--repeats 3] [--every 50]

For the demo's digits CNN and a digits MLP (64-256-256-10), the same training
(8 epochs from the same initial weights, batch 32) runs with ``lamina.train.loop.fit``
with no monitor and with :class:`lamina.diagnose.monitor.Monitor` as training
builds it (every ``--every`` steps, or often enough for 20 samples: every 16 steps
for these 320-step runs), every 10 steps, and every step (what sampling saves). The variants
alternate within each repeat after an untimed warm-up round. Printed: median
seconds per epoch and the ratio to the unmonitored run.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from lamina.config import parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.diagnose.monitor import Monitor
from lamina.nn.build import build_model
from lamina.train.loop import fit

WORKLOADS = {
    "cnn (demo)": ({"dataset": "digits", "view": "image"},
                   {"arch": "cnn", "channels": [32, 64], "dense": [128], "dropout": 0.3}),
    "mlp": ({"dataset": "digits", "view": "flat"}, {"arch": "mlp", "hidden": [256, 256]}),
}
EPOCHS = 8


def timed(data_section: dict, model_section: dict, every: int | None, start: dict, data) -> float:
    """Seconds per epoch of one training, monitored every ``every`` steps (None: not monitored)."""
    spec = parse_run_spec({"data": data_section, "model": model_section,
                           "train": {"epochs": EPOCHS, "batch_size": 32, "tensorboard": False}})
    model = build_model(spec.model, data.input_shape, data.n_outputs).model
    model.load_state_dict(copy.deepcopy(start))
    callbacks = [] if every is None else [Monitor(every, min_samples=20 if every > 10 else 1)]
    began = time.perf_counter()
    fit(model, data, spec.train, callbacks, torch.device("cpu"), seed=0)
    return (time.perf_counter() - began) / EPOCHS


def main() -> None:
    """Time each workload without and with the monitor and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--every", type=int, default=50, help="train.diagnose_every (the default is 50)")
    args = parser.parse_args()
    variants: dict[str, int | None] = {"off": None, "default": args.every, "every 10": 10, "every 1": 1}
    for workload, (data_section, model_section) in WORKLOADS.items():
        spec = parse_run_spec({"data": data_section, "model": model_section})
        data = prepare_data(spec.data)
        torch.manual_seed(0)
        start = build_model(spec.model, data.input_shape, data.n_outputs).model.state_dict()
        for every in variants.values():  # warm-up, untimed
            timed(data_section, model_section, every, start, data)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, every in variants.items():
                times[name].append(timed(data_section, model_section, every, start, data))
        base = statistics.median(times["off"])
        print(f"{workload}: {len(data.train)} training samples, {EPOCHS} epochs, median of {args.repeats}")
        for name, values in times.items():
            med = statistics.median(values)
            print(f"  monitor {name:>9}: {med * 1000:7.1f} ms/epoch  ratio {med / base:.3f}")


if __name__ == "__main__":
    main()
