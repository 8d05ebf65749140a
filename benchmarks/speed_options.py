"""What train.precision: bf16 and train.compile do to training time, side by side in one run.

Run it from the repository root:

    .venv/bin/python benchmarks/speed_options.py [--threads 1] [--repeats 3]

For the digits MLP (64-256-256-10) and the digits CNN (two 3x3 conv stages), each
variant (fp32 eager, bf16 autocast, fp32 torch.compile) trains 10 epochs with
``lamina.train.loop.fit`` from the same initial weights. The variants alternate
within every repeat and a first untimed round warms each up (for compile, this
round pays the compilation, which is reported apart). Printed: median seconds per
epoch, the ratio to fp32 eager, and the final validation accuracy.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from lamina.config import parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.nn.build import build_model
from lamina.train.loop import fit

WORKLOADS = {
    "mlp": ({"dataset": "digits", "view": "flat"}, {"arch": "mlp", "hidden": [256, 256]}),
    "cnn": ({"dataset": "digits", "view": "image"}, {"arch": "cnn", "channels": [16, 32], "dense": [64]}),
}
VARIANTS = {"fp32": {}, "bf16": {"precision": "bf16"}, "compile": {"compile": True}}
EPOCHS = 10


def run(data_section: dict, model_section: dict, variant: dict, start: dict, data) -> tuple[float, float]:
    """Seconds per epoch and final validation accuracy of one training."""
    spec = parse_run_spec({"data": data_section, "model": model_section,
                           "train": {"epochs": EPOCHS, "batch_size": 64, "tensorboard": False, **variant}})
    model = build_model(spec.model, data.input_shape, data.n_outputs).model
    model.load_state_dict(copy.deepcopy(start))
    began = time.perf_counter()
    state = fit(model, data, spec.train, [], torch.device("cpu"))
    return (time.perf_counter() - began) / EPOCHS, state.history[-1]["val_accuracy"]


def main() -> None:
    """Time every variant on every workload and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {EPOCHS} epochs, median of {args.repeats}")
    print(f"{'workload':8} {'variant':8} {'s/epoch':>8} {'x fp32':>7} {'val acc':>8} {'warm-up s':>9}")
    for name, (data_section, model_section) in WORKLOADS.items():
        data = prepare_data(parse_run_spec({"data": data_section, "model": model_section}).data)
        torch.manual_seed(0)
        start = build_model(parse_run_spec({"data": data_section, "model": model_section}).model,
                            data.input_shape, data.n_outputs).model.state_dict()
        warm = {v: run(data_section, model_section, VARIANTS[v], start, data)[0] * EPOCHS for v in VARIANTS}
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        accuracy: dict[str, float] = {}
        for r in range(args.repeats):
            order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
            for v in order:
                seconds, accuracy[v] = run(data_section, model_section, VARIANTS[v], start, data)
                times[v].append(seconds)
        base = statistics.median(times["fp32"])
        for v in VARIANTS:
            t = statistics.median(times[v])
            print(f"{name:8} {v:8} {t:8.4f} {t / base:7.2f} {accuracy[v]:8.3f} {warm[v]:9.1f}")


if __name__ == "__main__":
    main()
