"""Lab 3: a network big enough memorizes labels that mean nothing, and it takes longer than learning real ones.

After Zhang et al. (2017), "Understanding deep learning requires rethinking
generalization". The digits' images are written to an NPZ file twice, once
with their real labels and once with the labels shuffled (each label kept,
but moved to a random image, so it says nothing about the image it sits on).
The same wide MLP is trained on each through ``data.path``; after every epoch
the lab scores the whole training split and stops the run once it is fitted,
counting the epochs each needed (without ``--quick``: all 1,797 digits and
three seeds, each its own shuffle and initialization). A model of shuffled
labels can only memorize: its test accuracy (against the equally shuffled test
labels) stays at chance.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

import lamina
from lamina.files import atomic_write_bytes
from lamina.labs.kit import LabOutcome, LabSettings
from lamina.report.figures import pyplot, save_figure
from lamina.registry import DATASETS

ORDER = 3
TITLE = "Overfitting random labels"
CLAIM = ("A wide network reaches near-100% training accuracy on digits whose labels were shuffled while its test "
         "accuracy stays at chance, and it needs more epochs to fit the noise than the real labels.")

FITTED = 0.99  # training accuracy that counts as fitted
WIDTH = 512
SLOWER = 2.0  # how many times the real labels' epochs the noise must need


class FitWatch(lamina.Callback):
    """Training-split accuracy after every epoch (eval mode, no dropout); stops the run once it reaches ``target``."""

    def __init__(self, target: float) -> None:
        self.target = target
        self.accuracy: list[float] = []

    def on_epoch_end(self, state: Any) -> None:
        """Score every training row, then stop training if the split is fitted."""
        state.model.eval()
        with torch.no_grad():
            x, y = state.data.train.x.to(state.device), state.data.train.y.to(state.device)
            self.accuracy.append(float((state.model(x).argmax(dim=1) == y).float().mean()))
        state.model.train()
        if self.accuracy[-1] >= self.target:
            raise lamina.StopTraining(f"training accuracy {self.accuracy[-1]:.3f} reached {self.target}")

    @property
    def fitted_at(self) -> int | None:
        """The first epoch (1-based) whose training accuracy reached the target, or None."""
        return next((i + 1 for i, value in enumerate(self.accuracy) if value >= self.target), None)


def write_digits(path: Path, rows: int, shuffle_seed: int | None) -> Path:
    """Write the first ``rows`` digits as an NPZ (``x`` images, ``y`` labels); with a seed the labels are shuffled."""
    digits = DATASETS.get("digits")()
    x, y = digits.x[:rows], np.asarray(digits.y[:rows]).astype(np.int64)
    if shuffle_seed is not None:
        y = np.random.default_rng(shuffle_seed).permutation(y)
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _spec(settings: LabSettings, name: str, path: Path, epochs: int, seed: int) -> dict[str, Any]:
    return {
        "name": f"random-labels-{name}",
        "runs_dir": settings.runs_dir(),
        "seed": seed,
        "data": {"path": str(path), "view": "flat", "split": {"val": 0.1, "test": 0.25, "seed": 0}},
        "model": {"layers": [{"dense": WIDTH}, "relu", {"dense": WIDTH}, "relu", {"dense": 10}]},
        "train": {"epochs": epochs, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.001},
                  "restore_best": False, "tensorboard": False, "diagnose": False, "early_stopping": None},
    }


def run(settings: LabSettings) -> LabOutcome:
    """Fit real and shuffled labels with the same network; compare epochs to fit and test accuracy."""
    rows_used = 600 if settings.quick else 1797
    epochs = 150 if settings.quick else 400
    seeds = [settings.seed] if settings.quick else [settings.seed + i for i in range(3)]
    rows = []
    watches: dict[str, FitWatch] = {}
    for seed in seeds:
        for name, shuffle_seed in (("real labels", None), ("shuffled labels", seed)):
            kind = name.split()[0]
            path = write_digits(settings.out / f"digits-{kind}-seed{seed}.npz", rows_used, shuffle_seed)
            watch = FitWatch(FITTED)
            watches.setdefault(name, watch)  # the figure shows the first seed
            settings.log(f"{name}, seed {seed}: training until {FITTED:.0%} of the training split is right "
                         f"(at most {epochs} epochs)")
            spec = _spec(settings, f"{kind}-seed{seed}", path, epochs, seed)
            trained = lamina.fit(spec, progress="none", extra_callbacks=[watch])
            rows.append({"labels": name, "seed": seed, "epochs to fit": watch.fitted_at,
                         "train accuracy": watch.accuracy[-1],
                         "test accuracy": lamina.evaluate_run(trained)["metrics"]["accuracy"]})

    figure = _plot(settings, watches)
    real = [row for row in rows if row["labels"] == "real labels"]
    noise = [row for row in rows if row["labels"] == "shuffled labels"]
    all_fitted = all(row["epochs to fit"] is not None for row in rows)
    real_epochs = float(np.mean([row["epochs to fit"] or epochs for row in real]))
    noise_epochs = float(np.mean([row["epochs to fit"] or epochs for row in noise]))
    ratio = noise_epochs / real_epochs
    noise_train = min(row["train accuracy"] for row in noise)
    noise_test = max(row["test accuracy"] for row in noise)
    real_test = min(row["test accuracy"] for row in real)
    chance = 0.1
    confirmed = all_fitted and noise_test < 2 * chance and real_test > 0.9 and ratio >= SLOWER
    worst = "" if len(seeds) == 1 else f" (worst of {len(seeds)} seeds; epochs are means)"
    margin = (f"on {rows_used} digits with shuffled labels the MLP reached {noise_train:.1%} training accuracy in "
              f"{noise_epochs:g} epochs{worst} (needed >= {FITTED:.0%} within {epochs}) while scoring "
              f"{noise_test:.1%} on test (needed < {2 * chance:.0%}; chance is {chance:.0%}); the real labels were "
              f"fitted in {real_epochs:g} epochs with {real_test:.1%} test accuracy (needed > 90%), so the noise "
              f"took {ratio:.1f}x as many epochs (needed >= {SLOWER:g}x)")
    numbers = {"shuffled_train_accuracy": noise_train, "shuffled_test_accuracy": noise_test,
               "real_test_accuracy": real_test, "epochs_ratio": ratio}
    return LabOutcome(table=rows, figures=[figure], confirmed=confirmed, margin=margin, numbers=numbers)


def _plot(settings: LabSettings, watches: dict[str, FitWatch]) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, watch in watches.items():
        ax.plot(range(1, len(watch.accuracy) + 1), watch.accuracy, label=name)
    ax.axhline(FITTED, color="grey", linestyle=":", linewidth=1, label=f"fitted ({FITTED:.0%})")
    ax.axhline(0.1, color="grey", linestyle="--", linewidth=1, label="chance (10%)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Two-layer MLP ({WIDTH} wide) on digits: real against shuffled labels", fontsize=9)
    ax.legend()
    return save_figure(fig, settings.figure_path("training_accuracy"))
