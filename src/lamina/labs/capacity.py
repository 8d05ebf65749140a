"""Lab 4: too little capacity underfits, too much overfits, and regularization narrows the train/validation gap.

A one-hidden-layer MLP is trained on an eighth of the digits (about 220
images, so a wide network can memorize them) at widths from 1 to 1024 units,
all with Adam at a brisk rate (0.01) for the same number of epochs. A fifth of
the labels (in every split, drawn once with a fixed seed) are replaced by another
class, as real data carries labelling mistakes. The narrow models score badly on
training and validation rows alike (underfitting); the wide ones learn the wrong
training labels by heart and pay for it on validation (overfitting). The widest
is then trained again four times, each with one remedy: dropout, weight decay (an
L2 penalty), augmentation (random one-pixel shifts and pixel noise) and early
stopping. Every model is scored at the end, in eval mode, on the training and
validation rows (without ``--quick`` the widest model and its remedies are
trained with three seeds and their scores averaged). The gap the verdict uses is
in the training objective (validation cross-entropy minus training cross-entropy),
the quantity the learning curves show pulling apart; the accuracy gap is reported
beside it.

The labels were clean until the suite had to pass on other machines: on clean
digits the wide MLP's loss gap was 0.38 for seed 0 but 0.18 and 0.19 for seeds 1
and 2, no larger than with dropout (0.23, 0.32), so whether the remedies "narrowed"
it was decided by the seed (1 of 4 for seeds 1 and 2; no better after 40 epochs).
With the noisy labels the gap is 2.26-2.46 for seeds 0-2 and every remedy keeps
at most 0.59 of it (dropout 0.54-0.59, weight decay 0.34-0.38, augmentation
0.12-0.13, early stopping 0.17-0.21; one thread, quick mode).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

import lamina
from lamina.files import atomic_write_bytes
from lamina.labs.kit import LabOutcome, LabSettings
from lamina.report.figures import pyplot, save_figure

ORDER = 4
TITLE = "Under- and overfitting"
CLAIM = ("As capacity grows a network goes from underfitting to overfitting (learning wrong labels by heart), and dropout, weight decay, "
         "augmentation and early stopping each narrow the overfitting model's train/validation gap.")

QUICK_EPOCHS, FULL_EPOCHS = 20, 60
LABEL_NOISE = 0.2  # the share of labels replaced by another class
MEMORIZED = 0.85  # the widest model's training accuracy that shows it learned wrong labels (clean share: 0.8)
OVERFIT_GAP = 0.15  # and its train - validation accuracy gap
NARROWER = 0.8  # a remedy narrows the gap when its loss gap is at most this share of the unregularized one
NEEDED_REMEDIES = 3  # of the four
NO_REMEDY = "no remedy"
REMEDIES = {
    "dropout 0.5": {"dropout": 0.5},
    "weight decay (l2 3e-3)": {"l2": 3e-3},
    "augmentation (shift, noise)": {"augment": [{"shift": 1}, {"noise": 0.1}]},
    "early stopping (patience 3)": {"early_stopping": 3},
}


def _spec(settings: LabSettings, name: str, width: int, epochs: int, seed: int, **changes: Any) -> dict[str, Any]:
    """The run for one model: ``changes`` may set ``dropout``, ``l2``, ``augment`` or ``early_stopping``."""
    hidden: list[Any] = [{"dense": width}, "relu"]
    if changes.get("dropout"):
        hidden.append({"dropout": changes["dropout"]})
    stopping = changes.get("early_stopping")
    return {
        "name": f"capacity-{name}",
        "runs_dir": settings.runs_dir(),
        "seed": seed,
        "data": {**_digits(settings), "split": {"val": 0.5, "test": 0.38, "seed": 0}},
        "model": {"layers": ["flatten", *hidden, {"dense": 10}]},
        "train": {"epochs": epochs, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01},
                  "l2": changes.get("l2", 0.0), "augment": changes.get("augment", []),
                  "early_stopping": {"monitor": "val_loss", "patience": stopping} if stopping else None,
                  "restore_best": bool(stopping), "tensorboard": False, "diagnose": False},
    }


def _digits(settings: LabSettings) -> dict[str, Any]:
    """The data section: scikit-learn's digits as 1x8x8 images in [0, 1], LABEL_NOISE of the labels replaced."""
    path = settings.out / "digits_noisy_labels.npz"
    if path.exists():
        return {"path": str(path)}
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = np.random.default_rng(0)
    labels = bunch.target.copy()
    flipped = rng.random(len(labels)) < LABEL_NOISE
    labels[flipped] = (labels[flipped] + rng.integers(1, 10, int(flipped.sum()))) % 10  # always another class
    buffer = io.BytesIO()
    np.savez(buffer, x=(bunch.images[:, None] / 16).astype(np.float32), y=labels)
    atomic_write_bytes(path, buffer.getvalue())
    return {"path": str(path)}


def _scores(trained: Any) -> dict[str, float]:
    """Accuracy and cross-entropy of the trained model on its clean training and validation rows."""
    data = lamina.prepare_data(trained.spec.data, fitted=trained.preprocessor)
    scores: dict[str, float] = {}
    for split in ("train", "val"):
        part = getattr(data, split)
        outputs = trained.outputs(part.x).cpu()
        scores[f"{split} accuracy"] = float((outputs.argmax(dim=1) == part.y).float().mean())
        scores[f"{split} loss"] = float(torch.nn.functional.cross_entropy(outputs, part.y))
    scores["accuracy gap"] = scores["train accuracy"] - scores["val accuracy"]
    scores["loss gap"] = scores["val loss"] - scores["train loss"]
    return scores


def _history(trained: Any) -> list[dict[str, Any]]:
    """The run's per-epoch log (metrics.jsonl), for the learning curves."""
    lines = trained.folder.metrics.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    """Each score averaged over the seeds' rows."""
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def run(settings: LabSettings) -> LabOutcome:
    """Sweep the width, then retrain the widest model with each remedy, scoring train and validation accuracy."""
    widths = [1, 4, 16, 128, 1024] if settings.quick else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    epochs = QUICK_EPOCHS if settings.quick else FULL_EPOCHS
    seeds = [settings.seed] if settings.quick else [settings.seed + i for i in range(3)]
    sweep, curves = [], {}
    for width in widths:
        settings.log(f"width {width}: training {epochs} epochs")
        trained = lamina.fit(_spec(settings, f"width-{width}", width, epochs, settings.seed), progress="none")
        curves[f"width {width}"] = _history(trained)
        sweep.append({"model": f"width {width}", "seeds": 1, "epochs": len(curves[f"width {width}"]),
                      **_scores(trained)})
    widest = widths[-1]
    per_seed = {NO_REMEDY: [{key: value for key, value in sweep[-1].items() if key not in ("model", "seeds")}]}
    curves[NO_REMEDY] = curves[f"width {widest}"]
    for name, change in [(NO_REMEDY, {}), *REMEDIES.items()]:
        for seed in seeds:
            if name == NO_REMEDY and seed == settings.seed:
                continue  # the sweep's widest run
            settings.log(f"width {widest} with {name}, seed {seed}: training")
            spec = _spec(settings, f"{name.split()[0]}-{widest}-seed{seed}", widest, epochs, seed, **change)
            trained = lamina.fit(spec, progress="none")
            history = _history(trained)
            if seed == settings.seed:
                curves[name] = history
            per_seed.setdefault(name, []).append({"epochs": len(history), **_scores(trained)})
    compared = [{"model": f"width {widest} + {name}", "seeds": len(seeds), **_mean(rows)}
                for name, rows in per_seed.items()]
    baseline, remedies = compared[0], compared[1:]

    figures = [_plot_sweep(settings, widths, sweep, curves), _plot_remedies(settings, baseline, remedies, curves)]
    narrowed = [row for row in remedies if row["loss gap"] <= NARROWER * baseline["loss gap"]]
    underfit = sweep[0]["train accuracy"] < 0.8
    overfit = baseline["train accuracy"] >= MEMORIZED and baseline["accuracy gap"] > OVERFIT_GAP
    confirmed = underfit and overfit and len(narrowed) >= NEEDED_REMEDIES
    each = "; ".join(f"{_remedy(row)} {row['loss gap']:.3f} ({row['accuracy gap'] * 100:.1f} points)"
                     for row in remedies)
    averaged = f" (means of {len(seeds)} seeds)" if len(seeds) > 1 else ""
    margin = (f"width {widths[0]} underfits at {sweep[0]['train accuracy']:.1%} training accuracy (needed < 80%); "
              f"width {widest} fits {baseline['train accuracy']:.1%} of its training rows and validates at "
              f"{baseline['val accuracy']:.1%} (needed >= {MEMORIZED:.0%}, with {LABEL_NOISE:.0%} of the labels wrong, and a "
              f"gap > {OVERFIT_GAP * 100:.0f} points), a loss gap of "
              f"{baseline['loss gap']:.3f}; with each remedy the loss gap (accuracy gap){averaged} is {each}; {len(narrowed)} "
              f"of 4 narrowed the loss gap to at most {NARROWER:.0%} of {baseline['loss gap']:.3f} "
              f"(needed at least {NEEDED_REMEDIES})")
    numbers = {"underfit_train_accuracy": sweep[0]["train accuracy"], "overfit_loss_gap": baseline["loss gap"],
               "overfit_accuracy_gap": baseline["accuracy gap"], "remedies_narrowing": float(len(narrowed)),
               **{f"loss_gap_{_remedy(row).replace(' ', '_')}": row["loss gap"] for row in remedies}}
    return LabOutcome(table=sweep + compared, figures=figures, confirmed=confirmed, margin=margin, numbers=numbers)


def _remedy(row: dict[str, Any]) -> str:
    """A remedy row's short name: 'dropout' from 'width 1024 + dropout 0.5'."""
    return row["model"].split(" + ")[1].split(" (")[0].removesuffix(" 0.5")


def _plot_sweep(settings: LabSettings, widths: list[int], sweep: list[dict[str, Any]],
                curves: dict[str, list[dict[str, Any]]]) -> Path:
    plt = pyplot()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    acc_ax.semilogx(widths, [row["train accuracy"] for row in sweep], "o-", label="train", base=2)
    acc_ax.semilogx(widths, [row["val accuracy"] for row in sweep], "o-", label="validation", base=2)
    acc_ax.set_xlabel("hidden units")
    acc_ax.set_ylabel("accuracy after training")
    acc_ax.set_title("Capacity sweep: underfitting (left) to overfitting (right)", fontsize=9)
    acc_ax.legend()
    shown = [widths[0], widths[len(widths) // 2], widths[-1]]
    for width in shown:
        history = curves[f"width {width}"]
        epochs = [log["epoch"] for log in history]
        (line,) = loss_ax.plot(epochs, [log["train_loss"] for log in history], label=f"width {width} train")
        loss_ax.plot(epochs, [log["val_loss"] for log in history], "--", color=line.get_color(),
                     label=f"width {width} validation")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("cross-entropy")
    loss_ax.set_title("Learning curves (solid: train, dashed: validation)", fontsize=9)
    loss_ax.legend(fontsize=7)
    return save_figure(fig, settings.figure_path("capacity_sweep"))


def _plot_remedies(settings: LabSettings, baseline: dict[str, Any], remedies: list[dict[str, Any]],
                   curves: dict[str, list[dict[str, Any]]]) -> Path:
    plt = pyplot()
    fig, (gap_ax, val_ax) = plt.subplots(1, 2, figsize=(11, 4))
    rows = [baseline, *remedies]
    labels = [_remedy(row) for row in rows]
    bars = gap_ax.bar(labels, [row["loss gap"] for row in rows], color=["grey"] + ["tab:blue"] * len(remedies))
    for bar, row in zip(bars, rows):
        gap_ax.annotate(f"{row['accuracy gap'] * 100:.1f} pts", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
    gap_ax.axhline(NARROWER * baseline["loss gap"], color="black", linestyle=":", linewidth=1,
                   label=f"{NARROWER:.0%} of the unregularized gap")
    gap_ax.set_ylabel("validation - training cross-entropy")
    gap_ax.set_title(f"{baseline['model'].split(' + ')[0]}: the gap with each remedy (labels: accuracy gap)", fontsize=9)
    gap_ax.legend(fontsize=8)
    gap_ax.tick_params(axis="x", labelsize=8)
    for row in rows:
        history = curves[row["model"].split(" + ")[1]]
        label = _remedy(row)
        val_ax.plot([log["epoch"] for log in history], [log["val_loss"] for log in history], label=label)
    val_ax.set_xlabel("epoch")
    val_ax.set_ylabel("validation cross-entropy")
    val_ax.set_yscale("log")
    val_ax.set_title("Validation loss while training (early stopping ends early)", fontsize=9)
    val_ax.legend(fontsize=7)
    return save_figure(fig, settings.figure_path("remedies"))
