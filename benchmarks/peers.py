"""lamina against a hand-written PyTorch loop, PyTorch Lightning and Keras 3 (torch backend), side by side.

Run it from the repository root (Lightning and Keras are benchmark-only extras):

    .venv/bin/python -m pip install -c constraints.txt -e '.[bench]'
    .venv/bin/python benchmarks/peers.py [--threads 1] [--rounds 5] [--only mlp,cnn,e2e-mlp,e2e-cnn] [--clock cpu]

Workloads, all on digits (1,078 training images) with Adam (lr 1e-3), batch 64 and a
validation pass every epoch: (a) MLP 64-256-256-10 for 20 epochs, (b) CNN of two 3x3
conv stages (16 and 32 channels, max-pooling) and a 64-unit dense layer for 15 epochs,
(c) an LSTM (width 64) over the digits' 8 rows as an 8-step sequence for 10 epochs,
(d) a width-1024 MLP (64-1024-1024-10) at batch 256 for 10 epochs, which shows how
close a step gets to the machine's matmul rate. (e) ``charlm``: the issue's character GPT
(4 layers, 4 heads, width 128, context 64, batch 16 on tinyshakespeare), lamina's training
step against the hand-written nanoGPT-style loop of ``benchmarks/char_lm_step.py``, in
ms per step (Lightning and Keras are left out of this row: their loops add the same
per-step overhead they show in (a)-(d), and a Keras twin of lamina's GPT is not written).

Contenders and the setup each gets (its best documented small-data setup):

* **hand**: tensors in memory, ``torch.randperm`` and index slicing per epoch, the
  model's forward, cross-entropy, ``Adam(fused=False)`` step, val loss and accuracy.
* **lamina**: ``lamina.train.loop.fit`` with its in-memory batch path and no callbacks
  (what ``lamina.fit`` runs, minus the run folder's files and checkpoints).
* **lightning**: a LightningModule around the same torch module, DataLoaders over
  in-memory TensorDatasets, ``Trainer(logger=False, enable_checkpointing=False,
  enable_progress_bar=False, enable_model_summary=False)`` (the "lean" setup; the
  defaults are slower).
* **keras**: the same layers as a ``keras.Sequential`` on the torch backend,
  ``model.fit(..., verbose=0)`` with NumPy arrays and validation data.

End to end (rows ``e2e-mlp`` and ``e2e-cnn``, seconds per whole run): what a user waits for
from the call to the saved model, on the MLP and CNN workloads above.

* **hand**: the hand loop, then ``torch.save`` of the state dict.
* **lamina**: ``lamina.fit`` with the default config (the same layers as ``model.layers``; the
  run folder, its data preparation from the builtin set, checkpoints, metrics and losses
  logs, TensorBoard, the diagnosis monitor, test evaluation with predictions.csv, summary
  and report.html, whose figures are drawn in a background process).
* **lamina+report**: the same, then ``lamina.wait_for_reports()`` until the report's
  figures are drawn (the whole work, as ``lamina train`` on the command line waits).
* **lightning**: its defaults for logging (TensorBoard) and checkpointing (the last
  epoch's ``.ckpt``) under a fresh ``default_root_dir``; progress bar and model summary off.
* **keras**: ``model.fit`` as above, then ``model.save`` (``.keras``).

Every contender runs in this process with ``torch.set_num_threads`` fixed (1 by default:
at 2 threads sub-second runs are bimodal on this kind of machine). Rounds interleave the
contenders (order rotated each round) after one untimed warm-up round; medians are
printed with the ratio to the hand loop, the final validation accuracy, and the fraction
of the measured float32 matmul rate (2048x2048) that the training FLOPs reach.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import lamina  # noqa: E402
from lamina.config import parse_run_spec  # noqa: E402
from lamina.data.prepare import Prepared, prepare_data  # noqa: E402
from lamina.train.loop import fit  # noqa: E402


class RowsAsSequence(nn.Module):
    """An LSTM over the 8 rows of a digit (8 steps of 8 pixels), classified from the last state."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, width, batch_first=True)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.reshape(len(x), 8, 8))  # (B, 8 steps, width)
        return self.head(out[:, -1])


def mlp(*widths: int) -> nn.Module:
    """A ReLU MLP with the given layer widths (first is the input)."""
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-2], widths[-1]))


def cnn() -> nn.Module:
    """Two conv stages (3x3, same padding, ReLU, 2x2 max-pool) and a dense layer."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10))


def keras_model(name: str):
    """The Keras twin of a workload's torch module (channels-last images)."""
    import keras
    from keras import layers

    if name == "mlp":
        body = [layers.Input((64,)), layers.Dense(256, activation="relu"), layers.Dense(256, activation="relu")]
    elif name == "mlp1024":
        body = [layers.Input((64,)), layers.Dense(1024, activation="relu"), layers.Dense(1024, activation="relu")]
    elif name == "cnn":
        body = [layers.Input((8, 8, 1)), layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
                layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(), layers.Flatten(),
                layers.Dense(64, activation="relu")]
    else:
        body = [layers.Input((8, 8)), layers.LSTM(64)]
    model = keras.Sequential(body + [layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


@dataclass
class Workload:
    """One comparison: the data view, the torch module factory, epochs and batch size."""

    name: str
    view: str
    module: Callable[[], nn.Module]
    epochs: int
    batch_size: int = 64


WORKLOADS = [
    Workload("mlp", "flat", lambda: mlp(64, 256, 256, 10), 20),
    Workload("cnn", "image", cnn, 15),
    Workload("lstm", "flat", RowsAsSequence, 10),
    Workload("mlp1024", "flat", lambda: mlp(64, 1024, 1024, 10), 10, 256),
]


def hand(w: Workload, data: Prepared, model: nn.Module | None = None) -> float:
    """A plain PyTorch loop over in-memory tensors (training ``model``, or a new one); returns the final val accuracy."""
    model = model or w.module()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = data.train.x, data.train.y
    g = torch.Generator().manual_seed(0)
    for _ in range(w.epochs):
        model.train()
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x), w.batch_size):
            index = order[start : start + w.batch_size]
            loss = F.cross_entropy(model(x[index]), y[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = model(data.val.x)
            float(F.cross_entropy(out, data.val.y))
            accuracy = float((out.argmax(1) == data.val.y).float().mean())
    return accuracy


def lamina_loop(w: Workload, data: Prepared) -> float:
    """lamina's loop (in-memory batches, val loss and accuracy each epoch)."""
    spec = parse_run_spec({"data": {"dataset": "digits", "view": w.view}, "model": {"arch": "mlp"},
                           "train": {"epochs": w.epochs, "batch_size": w.batch_size, "tensorboard": False,
                                     "optimizer": {"name": "adam", "lr": 1e-3}, "device": "cpu"}})
    state = fit(w.module(), data, spec.train, [], torch.device("cpu"), batch_path="memory")
    return state.history[-1]["val_accuracy"]


def lightning_module(w: Workload):
    """A LightningModule around the workload's torch module; ``accuracy`` is the last validation batch's."""
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = w.module()
            self.accuracy = 0.0

        def training_step(self, batch, _):
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def validation_step(self, batch, _):
            x, y = batch
            out = self.net(x)
            self.accuracy = float((out.argmax(1) == y).float().mean())
            return F.cross_entropy(out, y)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    return Module()


def lightning_fit(w: Workload, data: Prepared, **settings) -> float:
    """Lightning's Trainer with ``settings``, on DataLoaders over in-memory tensors; returns the val accuracy."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    module = lightning_module(w)
    trainer = L.Trainer(max_epochs=w.epochs, accelerator="cpu", devices=1, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, **settings)
    train = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=w.batch_size, shuffle=True)
    val = DataLoader(TensorDataset(data.val.x, data.val.y), batch_size=len(data.val))
    trainer.fit(module, train, val)
    return module.accuracy


def lightning_lean(w: Workload, data: Prepared) -> float:
    """Lightning with logger, checkpointing, progress bar and model summary off."""
    return lightning_fit(w, data, logger=False, enable_checkpointing=False)


def keras_fit(w: Workload, data: Prepared, save_to: str | None = None) -> float:
    """Keras 3 on the torch backend, fit on NumPy arrays (then ``model.save`` to ``save_to``, if given)."""
    model = keras_model(w.name)
    x, xv = data.train.x.numpy(), data.val.x.numpy()
    if w.view == "image":
        x, xv = x.transpose(0, 2, 3, 1), xv.transpose(0, 2, 3, 1)
    elif w.name == "lstm":
        x, xv = x.reshape(-1, 8, 8), xv.reshape(-1, 8, 8)
    history = model.fit(x, data.train.y.numpy(), batch_size=w.batch_size, epochs=w.epochs,
                        validation_data=(xv, data.val.y.numpy()), verbose=0)
    if save_to is not None:
        model.save(os.path.join(save_to, "model.keras"))
    return float(history.history["val_accuracy"][-1])


CONTENDERS = {"hand": hand, "lamina": lamina_loop, "lightning": lightning_lean, "keras": keras_fit}

# End to end: each contender gets a fresh, empty folder for what it writes.
LAYERS = {"mlp": [{"dense": 256}, "relu", {"dense": 256}, "relu", {"dense": 10}],
          "cnn": [{"conv2d": 16}, "relu", {"maxpool2d": 2}, {"conv2d": 32}, "relu", {"maxpool2d": 2}, "flatten",
                  {"dense": 64}, "relu", {"dense": 10}]}


def hand_e2e(w: Workload, data: Prepared, out: str) -> float:
    """The hand loop, then its weights saved with torch.save."""
    model = w.module()
    accuracy = hand(w, data, model)
    torch.save(model.state_dict(), os.path.join(out, "model.pt"))
    return accuracy


def lamina_e2e(w: Workload, data: Prepared, out: str) -> float:
    """``lamina.fit`` with the default config: run folder, checkpoints, logs, evaluation, report."""
    config = {"name": f"e2e-{w.name}", "runs_dir": out, "data": {"dataset": "digits", "view": w.view},
              "model": {"layers": LAYERS[w.name]}, "train": {"epochs": w.epochs, "batch_size": w.batch_size}}
    run = lamina.fit(config, progress="none")
    return final_val_accuracy(run.folder.summary)


def lamina_e2e_report(w: Workload, data: Prepared, out: str) -> float:
    """``lamina.fit`` as above, then waiting until the report's figures are drawn."""
    accuracy = lamina_e2e(w, data, out)
    lamina.wait_for_reports()
    return accuracy


def final_val_accuracy(summary: os.PathLike) -> float:
    """The last epoch's validation accuracy from a run's summary.json."""
    with open(summary, encoding="utf-8") as handle:
        return json.load(handle)["final_epoch"]["val_accuracy"]


def lightning_e2e(w: Workload, data: Prepared, out: str) -> float:
    """Lightning with its default logger and checkpointing under ``out``."""
    return lightning_fit(w, data, default_root_dir=out)


def keras_e2e(w: Workload, data: Prepared, out: str) -> float:
    """Keras ``fit``, then ``model.save``."""
    return keras_fit(w, data, save_to=out)


E2E_CONTENDERS = {"hand": hand_e2e, "lamina": lamina_e2e, "lamina+report": lamina_e2e_report,
                  "lightning": lightning_e2e, "keras": keras_e2e}


def training_flops(w: Workload, samples: int) -> float:
    """Matmul FLOPs of one epoch's training (forward 2x, backward 4x multiply-adds of each layer)."""
    module, macs = w.module(), [0]

    def count(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(layer, nn.Linear):
            macs[0] += layer.in_features * layer.out_features
        elif isinstance(layer, nn.Conv2d):
            macs[0] += layer.weight[0].numel() * output.shape[1] * output.shape[2] * output.shape[3]
        elif isinstance(layer, nn.LSTM):
            steps = inputs[0].shape[1]
            macs[0] += steps * 4 * layer.hidden_size * (layer.input_size + layer.hidden_size)

    for layer in module.modules():
        layer.register_forward_hook(count)
    shape = (1, 1, 8, 8) if w.view == "image" else (1, 64)
    module(torch.zeros(shape))
    return 6.0 * macs[0] * samples


def matmul_rate() -> float:
    """Measured float32 matmul FLOP/s (2048x2048, best of 5)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(5))
    return 2 * 2048**3 / best


def _seconds(job: Callable[[], object]) -> float:
    began = time.perf_counter()
    job()
    return time.perf_counter() - began


def main() -> None:
    """Time every contender on every workload and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: elapsed seconds (on a quiet machine); cpu: CPU seconds of this process and of "
                             "the children it waited for (steadier on a machine that others load)")
    names = [w.name for w in WORKLOADS] + ["charlm"] + [f"e2e-{name}" for name in LAYERS]
    parser.add_argument("--only", default=",".join(names), help=f"comma-separated rows among {','.join(names)}")
    args = parser.parse_args()
    only = args.only.split(",")
    clock = time.perf_counter if args.clock == "wall" else cpu_seconds
    torch.set_num_threads(args.threads)
    import logging
    import warnings

    import lightning  # noqa: F401  (its import sets its loggers' levels; quiet them after it)

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    rate = matmul_rate()
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.rounds} rounds, {args.clock} clock; "
          f"float32 matmul {rate / 1e9:.0f} GFLOP/s")
    print(f"{'workload':9} {'contender':10} {'s/epoch':>8} {'x hand':>7} {'val acc':>8} {'% matmul':>9}")
    for w in WORKLOADS:
        if w.name not in only:
            continue
        data = workload_data(w)
        times, accuracy = interleaved({name: lambda job=job: job(w, data) for name, job in CONTENDERS.items()},
                                      args.rounds, clock)
        flops = training_flops(w, len(data.train))
        base = statistics.median(times["hand"])
        for name in CONTENDERS:
            t = statistics.median(times[name]) / w.epochs
            print(f"{w.name:9} {name:10} {t:8.4f} {t * w.epochs / base:7.2f} {accuracy[name]:8.3f} "
                  f"{100 * flops / t / rate:8.1f}%", flush=True)
    e2e = [w for w in WORKLOADS if f"e2e-{w.name}" in only]
    if e2e:
        print(f"{'workload':9} {'contender':14} {'s/run':>7} {'x hand':>7} {'val acc':>8}   (end to end)")
    for w in e2e:
        data = workload_data(w)
        with tempfile.TemporaryDirectory() as scratch:
            folders = iter(range(10**6))

            def fresh() -> str:
                return tempfile.mkdtemp(dir=scratch, prefix=str(next(folders)))

            jobs = {name: lambda job=job: job(w, data, fresh()) for name, job in E2E_CONTENDERS.items()}
            times, accuracy = interleaved(jobs, args.rounds, clock)
            lamina.wait_for_reports()  # before the scratch folder goes
        base = statistics.median(times["hand"])
        for name in E2E_CONTENDERS:
            t = statistics.median(times[name])
            print(f"{'e2e-' + w.name:9} {name:14} {t:7.3f} {t / base:7.2f} {accuracy[name]:8.3f}", flush=True)
    if "charlm" in only:
        char_lm_rows(args.rounds)


def cpu_seconds() -> float:
    """CPU seconds used by this process and by the child processes it has waited for."""
    children = os.times()
    return time.process_time() + children.children_user + children.children_system


def workload_data(w: Workload) -> Prepared:
    """Digits in the workload's view (flat or image), split and scaled as lamina does."""
    return prepare_data(parse_run_spec({"data": {"dataset": "digits", "view": w.view}, "model": {"arch": "mlp"}}).data)


def interleaved(jobs: dict[str, Callable[[], float]], rounds: int,
                clock: Callable[[], float]) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Seconds of each job per round and its last accuracy, after one untimed warm-up round (imports, allocator,
    kernels); each round runs every job once, in an order rotated each round. Before each job, untimed, the
    report figures a lamina job left drawing in the background are waited for, so they never share the
    machine with the next job (the lamina+report row counts them)."""
    for job in jobs.values():
        torch.manual_seed(0)
        job()
    times: dict[str, list[float]] = {name: [] for name in jobs}
    accuracy: dict[str, float] = {}
    names = list(jobs)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            lamina.wait_for_reports()
            torch.manual_seed(r)
            began = clock()
            accuracy[name] = jobs[name]()
            times[name].append(clock() - began)
    return times, accuracy


def char_lm_rows(rounds: int, batch: int = 16, chunk: int = 10) -> None:
    """Row (e): ms per training step of lamina's character GPT and of the hand-written loop, interleaved."""
    from char_lm_step import CONTEXT, TEXT, hand_trainer, lamina_trainer, ms_per_step

    from lamina.lm.corpus import load_corpus

    corpus = load_corpus(TEXT, 0.1, CONTEXT)
    steps = {"hand": hand_trainer(corpus.train, corpus.tokenizer.vocab, batch),
             "lamina": lamina_trainer(corpus.train, corpus.tokenizer.vocab, batch, (rounds + 1) * chunk)}
    for step in steps.values():
        ms_per_step(step, chunk)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(rounds):
        for name in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            times[name].append(ms_per_step(steps[name], chunk))
    base = statistics.median(times["hand"])
    print(f"{'workload':9} {'contender':10} {'ms/step':>8} {'x hand':>7}   (batch {batch} x {CONTEXT} characters)")
    for name, values in times.items():
        print(f"{'charlm':9} {name:10} {statistics.median(values):8.1f} {statistics.median(values) / base:7.2f}",
              flush=True)


if __name__ == "__main__":
    main()
