"""Lab 12: a GAN can win its game by drawing one digit, and showing the discriminator each batch's spread stops it.

Mode collapse: the generator finds a few samples the discriminator accepts and
maps every noise vector to them. Each sample still looks sharp, so looking at
one sample hides it; a classifier trained on real digits (the run's judge)
labels many samples, and the class histogram shows it: how many of the ten
classes get at least 2.5% of the samples, and the histogram's entropy (log 10
= 2.30 when uniform, 0 for one class). Two DCGANs on 8x8 digits differ in one
switch, ``generative.minibatch_std`` (Karras et al. 2018): the discriminator
also sees how much the samples of a batch differ, which a collapsed generator
cannot fake. Coverage is measured after every epoch.

The verdict reads the mean coverage over the second half of training, not the
last epoch alone: one epoch's sample of 500 swings by several classes (with
minibatch std, 10, 7 and 7 classes after 10 epochs for seeds 0, 1 and 2, and
6 for seed 0 after 20). Quick mode trains 20 epochs, because after 10 the
remedy's second-half mean was only 6.0 for seed 1; after 20 it was 8.0, 8.2
and 7.7 for seeds 0-2 against 1.3-1.4 without it (one thread; see
``benchmarks/lab_margins.py`` for every seed and thread count).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from lamina.generative.run import load_generative, train_generative
from lamina.labs.kit import LabOutcome, LabSettings
from lamina.report.figures import pyplot, save_figure
from lamina.trainer import seed_everything

ORDER = 12
TITLE = "GAN mode collapse"
CLAIM = ("A convolutional GAN on 8x8 digits collapses onto a few classes (over the second half of training its "
         "samples cover at most 3 of 10 on average), and the minibatch-standard-deviation remedy, with everything "
         "else the same, keeps at least 6 of 10 covered.")

GANS = {"DCGAN": False, "DCGAN + minibatch std": True}
SHOWN = 10  # samples of each GAN drawn in the figure
QUICK_EPOCHS, FULL_EPOCHS = 20, 40
COLLAPSED_MAX, COVERED_MIN = 3, 6  # classes (of 10) covered over the second half, without and with the remedy


def _spec(settings: LabSettings, name: str, minibatch_std: bool, epochs: int) -> dict[str, Any]:
    return {
        "name": name.lower().replace(" + ", "-").replace(" ", "-"),
        "runs_dir": settings.runs_dir(),
        "seed": settings.seed,
        "data": {"dataset": "digits", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
        "model": {"arch": "mlp", "hidden": [64]},  # the judge
        "generative": {"model": "gan", "kind": "conv", "latent": 16, "width": 16, "minibatch_std": minibatch_std,
                       "judge_epochs": 10 if settings.quick else 30, "coverage_every": 1, "samples": 500},
        "train": {"epochs": epochs, "batch_size": 64, "optimizer": {"lr": 0.001}, "tensorboard": False},
    }


def _second_half_mean(history: list[dict[str, Any]], key: str) -> float:
    """The mean of ``key`` over the second half of training, which a lucky or unlucky epoch cannot swing."""
    tail = history[len(history) // 2:]
    return sum(row[key] for row in tail) / len(tail)


def _figure(settings: LabSettings, histories: dict[str, list[dict[str, Any]]], samples: dict[str, torch.Tensor]):
    """Coverage and entropy per epoch for both GANs, and a strip of each one's final samples."""
    plt = pyplot()
    fig = plt.figure(figsize=(12, 4))
    grid = fig.add_gridspec(2, 3, width_ratios=[1, 1, 1])
    covered, entropy = fig.add_subplot(grid[:, 0]), fig.add_subplot(grid[:, 1])
    for name, history in histories.items():
        epochs = [row["epoch"] for row in history]
        covered.plot(epochs, [row["covered"] for row in history], marker="o", markersize=3, label=name)
        entropy.plot(epochs, [row["entropy"] for row in history], marker="o", markersize=3, label=name)
    covered.set_ylim(0, 10.5)
    covered.set_ylabel("classes covered (of 10)")
    entropy.axhline(math.log(10), color="gray", linestyle=":", linewidth=1, label="uniform (log 10)")
    entropy.set_ylim(0, 2.45)
    entropy.set_ylabel("entropy of the judge's class histogram")
    for ax in (covered, entropy):
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    for row, (name, images) in enumerate(samples.items()):
        ax = fig.add_subplot(grid[row, 2])
        framed = torch.nn.functional.pad(images[:, 0], (1, 1, 1, 1), value=0.5)  # a grey frame around each sample
        rows = framed.reshape(2, SHOWN // 2, *framed.shape[1:])  # (2, SHOWN / 2, H + 2, W + 2)
        montage = torch.cat([torch.cat(list(row), dim=1) for row in rows], dim=0)  # (2 (H + 2), (W + 2) SHOWN / 2)
        ax.imshow(montage.numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{name}: final samples", fontsize=8)
        ax.axis("off")
    fig.suptitle("class coverage of GAN samples on 8x8 digits, judged by a classifier trained on real digits",
                 fontsize=9)
    return save_figure(fig, settings.figure_path("coverage"))


def run(settings: LabSettings) -> LabOutcome:
    """Train the DCGAN with and without minibatch std, measuring class coverage after every epoch."""
    epochs = QUICK_EPOCHS if settings.quick else FULL_EPOCHS
    rows, histories, samples = [], {}, {}
    for name, minibatch_std in GANS.items():
        settings.log(f"{name}: training {epochs} epochs, coverage after each")
        seed_everything(settings.seed)
        result = train_generative(_spec(settings, name, minibatch_std, epochs), progress="none")
        histories[name] = result["coverage_history"]
        trained = load_generative(result["folder"]).model
        samples[name] = trained.sample(SHOWN, torch.Generator().manual_seed(settings.seed))
        final = result["coverage"]
        rows.append({"GAN": name, "final classes covered": final["covered"], "final entropy": final["entropy"],
                     "mean covered, 2nd half": _second_half_mean(histories[name], "covered"),
                     "mean entropy, 2nd half": _second_half_mean(histories[name], "entropy"),
                     "judge accuracy": result["judge_accuracy"]})
    figure = _figure(settings, histories, samples)

    plain, remedy = rows
    confirmed = (plain["mean covered, 2nd half"] <= COLLAPSED_MAX and remedy["mean covered, 2nd half"] >= COVERED_MIN
                 and plain["judge accuracy"] > 0.9)
    margin = (f"over the second half of {epochs} epochs the DCGAN's samples cover {plain['mean covered, 2nd half']:.1f}"
              f"/10 classes on average (needed <= {COLLAPSED_MAX}; entropy {plain['mean entropy, 2nd half']:.2f} of "
              f"{math.log(10):.2f}), with minibatch std {remedy['mean covered, 2nd half']:.1f}/10 (needed >= "
              f"{COVERED_MIN}; entropy {remedy['mean entropy, 2nd half']:.2f}); after the last epoch "
              f"{plain['final classes covered']} against {remedy['final classes covered']}; judge accuracy "
              f"{plain['judge accuracy']:.1%} (needed > 90%)")
    numbers = {"plain_final_covered": float(plain["final classes covered"]),
               "remedy_final_covered": float(remedy["final classes covered"]),
               "plain_mean_covered": plain["mean covered, 2nd half"],
               "remedy_mean_covered": remedy["mean covered, 2nd half"],
               "plain_mean_entropy": plain["mean entropy, 2nd half"],
               "remedy_mean_entropy": remedy["mean entropy, 2nd half"]}
    return LabOutcome(table=rows, figures=[figure], confirmed=confirmed, margin=margin, numbers=numbers)
