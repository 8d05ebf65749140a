"""lamina's in-memory batch path against a hand-written PyTorch loop over the same tensors.

Run it from the repository root:

    .venv/bin/python benchmarks/batch_path_vs_handwritten.py

What is compared, per workload:

* **lamina**: ``lamina.train.loop.fit`` with ``batch_path="memory"`` and the
  per-step-cheap callbacks that ``lamina.trainer.train`` installs by default:
  ``Progress("none")`` (prints nothing) and ``MetricsLog`` appending one JSON
  line per epoch to metrics.jsonl in a temporary folder (fsynced once at the
  end; a stopwatch around its per-epoch write shows its cost in the
  "log ms/ep" column). TensorBoard logging and checkpoints are OFF
  (``train.tensorboard: false``, no ``Checkpoints`` callback) because the hand
  loop has no equivalent of either. The schedule is lamina's default
  ("constant", for which no scheduler object is made). Validation each epoch
  computes the val loss and accuracy (torchmetrics), lamina's default epoch
  metrics.
* **hand**: a plain PyTorch loop a practitioner would write: the same model
  (built by ``build_model`` and loaded with the *same* initial weights), the
  same optimizer (Adam, same lr, betas, eps), the same batch size and number
  of epochs, a ``torch.randperm`` per epoch (same seed as lamina's) with index
  slicing into tensors already in memory, the running training loss, and a
  validation pass every epoch (val loss and accuracy in batch-size chunks).
  Like lamina (which does it by default), it stops on a non-finite loss or
  gradient before each optimizer step, with the same check: the loss plus the
  sum of every gradient, read back once a step. On the mlp workload that check
  alone costs lamina about 20 us a step (~3% of a step) on one CPU thread.

Both contenders train on the CPU with ``torch.set_num_threads`` fixed for the
whole process (1 by default: the per-step overhead is what is measured, and a
single thread keeps timings steady on a small shared machine; ``--threads``
changes it), alternate within every repeat (the order flips each repeat),
and a first untimed round warms both up (lazy imports such as torchmetrics,
allocator, kernels). Each timing covers the whole call (setup included)
divided by the number of epochs. The script also checks that both contenders
end with the same validation loss, which shows they did the same work.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lamina.config import RunSpec, parse_run_spec
from lamina.data.prepare import Prepared, prepare_data
from lamina.nn.build import build_model
from lamina.train.callbacks import MetricsLog, Progress
from lamina.train.loop import fit

TOLERANCE = 1.10
DEVICE = torch.device("cpu")


@dataclass
class Workload:
    """One benchmark case: a name, the run spec (as plain data) and how many epochs to time."""

    name: str
    data: dict[str, Any]
    model: dict[str, Any]
    epochs: int
    batch_size: int = 64


WORKLOADS = [
    Workload("mlp / digits flat", {"dataset": "digits", "view": "flat"}, {"arch": "mlp"}, epochs=150),
    Workload("cnn / digits image", {"dataset": "digits", "view": "image"}, {"arch": "cnn"}, epochs=25),
]


@dataclass
class Outcome:
    """One timed training run: wall seconds per epoch, of which in the metrics log, and the final val loss."""

    seconds_per_epoch: float
    final_val_loss: float
    log_seconds_per_epoch: float = 0.0


class TimedMetricsLog(MetricsLog):
    """lamina's MetricsLog, unchanged, with a stopwatch around each epoch's write (two clock reads an epoch)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.seconds = 0.0

    def on_epoch_end(self, state: Any) -> None:
        """Write the epoch's line as MetricsLog does, adding the time it took to ``seconds``."""
        started = time.perf_counter()
        super().on_epoch_end(state)
        self.seconds += time.perf_counter() - started


def run_spec_for(workload: Workload) -> RunSpec:
    """The validated lamina run spec for ``workload`` (CPU, no TensorBoard, Adam at lamina's default lr)."""
    return parse_run_spec({
        "name": "bench",
        "seed": 0,
        "data": workload.data,
        "model": workload.model,
        "train": {
            "epochs": workload.epochs,
            "batch_size": workload.batch_size,
            "optimizer": {"name": "adam", "lr": 1e-3},
            "device": "cpu",
            "tensorboard": False,
        },
    }, source="benchmark")


def time_lamina(model: torch.nn.Module, data: Prepared, spec: RunSpec, log_folder: Path) -> Outcome:
    """Train with ``lamina.train.loop.fit`` on the in-memory batch path; time the whole call."""
    metrics_log = TimedMetricsLog(log_folder / "metrics.jsonl")
    callbacks = [Progress("none"), metrics_log]
    started = time.perf_counter()
    state = fit(model, data, spec.train, callbacks, DEVICE, seed=spec.seed, batch_path="memory")
    elapsed = time.perf_counter() - started
    epochs = spec.train.epochs
    return Outcome(elapsed / epochs, state.history[-1]["val_loss"], metrics_log.seconds / epochs)


def time_hand_loop(model: torch.nn.Module, data: Prepared, spec: RunSpec) -> Outcome:
    """Train with a hand-written loop: randperm + index slicing, Adam, a val pass each epoch; time it all."""
    started = time.perf_counter()
    train_spec = spec.train
    batch_size = train_spec.batch_size
    model.to(DEVICE)
    x_train, y_train = data.train.x.to(DEVICE), data.train.y.to(DEVICE)
    x_val, y_val = data.val.x.to(DEVICE), data.val.y.to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_spec.optimizer.lr, betas=train_spec.optimizer.betas,
                                 eps=train_spec.optimizer.eps)
    generator = torch.Generator().manual_seed(spec.seed)
    params = list(model.parameters())
    n_train = len(x_train)
    history = []
    for _ in range(train_spec.epochs):
        model.train()
        running_loss = 0.0
        order = torch.randperm(n_train, generator=generator)
        for start in range(0, n_train, batch_size):
            index = order[start : start + batch_size]
            xb, yb = x_train[index], y_train[index]
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if not math.isfinite(float(loss.detach() + sum(p.grad.sum() for p in params))):  # lamina's per-step guard
                raise FloatingPointError("non-finite loss or gradient")
            optimizer.step()
            running_loss += loss.item() * len(index)
        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(x_val[start : start + batch_size]) for start in range(0, len(x_val), batch_size)])
            history.append({
                "train_loss": running_loss / n_train,
                "val_loss": float(F.cross_entropy(logits, y_val)),
                "val_accuracy": float((logits.argmax(dim=1) == y_val).float().mean()),
            })
    elapsed = time.perf_counter() - started
    return Outcome(elapsed / train_spec.epochs, history[-1]["val_loss"])


def benchmark(workload: Workload, repeats: int, log_root: Path) -> dict[str, Any]:
    """Time both contenders ``repeats`` times (after one untimed warm-up round), alternating their order."""
    spec = run_spec_for(workload)
    data = prepare_data(spec.data)
    torch.manual_seed(spec.seed)
    template = build_model(spec.model, data.input_shape, data.n_outputs).model
    initial_weights = copy.deepcopy(template.state_dict())

    def fresh_model() -> torch.nn.Module:
        model = copy.deepcopy(template)
        model.load_state_dict(initial_weights)
        return model

    times: dict[str, list[float]] = {"lamina": [], "hand": []}
    log_times: list[float] = []
    times_without_log: list[float] = []
    final_val_loss: dict[str, float] = {}
    for round_index in range(repeats + 1):
        order = ["lamina", "hand"] if round_index % 2 == 0 else ["hand", "lamina"]
        for contender in order:
            if contender == "lamina":
                folder = log_root / f"{workload.name.split()[0]}-{round_index}"
                folder.mkdir(parents=True, exist_ok=True)
                outcome = time_lamina(fresh_model(), data, spec, folder)
            else:
                outcome = time_hand_loop(fresh_model(), data, spec)
            final_val_loss[contender] = outcome.final_val_loss
            if round_index > 0:  # round 0 is the warm-up
                times[contender].append(outcome.seconds_per_epoch)
                if contender == "lamina":
                    log_times.append(outcome.log_seconds_per_epoch)
                    times_without_log.append(outcome.seconds_per_epoch - outcome.log_seconds_per_epoch)
    lamina_median = statistics.median(times["lamina"])
    hand_median = statistics.median(times["hand"])
    without_log_median = statistics.median(times_without_log)
    return {
        "name": workload.name,
        "epochs": workload.epochs,
        "steps": (len(data.train) + workload.batch_size - 1) // workload.batch_size,
        "lamina": lamina_median,
        "hand": hand_median,
        "ratio": lamina_median / hand_median,
        "log": statistics.median(log_times),
        "ratio_without_log": without_log_median / hand_median,
        "val_loss_gap": abs(final_val_loss["lamina"] - final_val_loss["hand"]),
    }


def main() -> None:
    """Parse options, run every workload, print the table and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per contender (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for the whole run")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)

    print("lamina fit (batch_path=memory) vs hand-written PyTorch loop, CPU")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, repeats {options.repeats} "
          "(+1 warm-up), alternating order")
    print("lamina callbacks on: Progress('none'), MetricsLog(temp dir); off: TensorBoard, checkpoints")
    print("both: same initial weights, Adam lr 1e-3, batch 64, randperm per epoch, val loss+accuracy every epoch,"
          " a non-finite loss/gradient check every step")
    print()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as log_root:
        for workload in WORKLOADS:
            rows.append(benchmark(workload, options.repeats, Path(log_root)))

    header = (f"{'workload':<20} {'epochs':>6} {'steps/ep':>8} {'lamina s/ep':>12} {'hand s/ep':>10} {'ratio':>7} "
              f"{'log ms/ep':>10} {'ratio w/o log':>14} {'|dval_loss|':>12}")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['name']:<20} {row['epochs']:>6} {row['steps']:>8} {row['lamina']:>12.4f} {row['hand']:>10.4f} "
              f"{row['ratio']:>7.3f} {row['log'] * 1e3:>10.2f} {row['ratio_without_log']:>14.3f} "
              f"{row['val_loss_gap']:>12.2e}")
    print()
    print("ratio = median lamina s/ep / median hand s/ep (MetricsLog included); "
          "'w/o log' takes out the time measured inside MetricsLog's per-epoch write")
    print("|dval_loss| = difference of the final val loss of the two contenders (0 = same training)")
    within = all(row["ratio"] <= TOLERANCE for row in rows)
    print(f"ratio within 10%: {'yes' if within else 'no'}")


if __name__ == "__main__":
    main()
