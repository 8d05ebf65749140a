"""Lab 7: a tiny, targeted nudge flips a confident prediction, and adversarial training buys robustness back.

The digits version of Goodfellow et al.'s panda that becomes a gibbon: a
classifier that is right and sure of itself on a test digit changes its mind
when every pixel moves by at most ``EPS`` of the pixel range in the direction
the gradient points (PGD, L-infinity). Two models with the same layers and
seed are trained: one on clean digits, one with ``train.adversarial`` (FGSM
with a random start, "fast is better than free"). Both are attacked with the
same PGD sweep; the price of robustness is read off the clean accuracy.
"""

from __future__ import annotations

from typing import Any

import torch

import lamina
from lamina.labs.kit import LabOutcome, LabSettings, run_spec
from lamina.report.figures import pyplot, save_figure
from lamina.trainer import seed_everything
from lamina.robust.attacks import pgd
from lamina.robust.bounds import valid_range
from lamina.robust.sweep import AttackSettings, attack_run, probabilities

ORDER = 7
TITLE = "Adversarial examples"
CLAIM = ("A perturbation of at most 0.1 of the pixel range flips confident, correct digit predictions and costs a "
         "standard classifier over 30 accuracy points, while adversarial training keeps most of them at a small "
         "cost in clean accuracy.")

EPS = 0.1  # the attack (and the training) budget, as a fraction of the pixel range
SWEEP = [0.05, 0.1, 0.15, 0.2]
LAYERS = ["flatten", {"dense": 128}, "relu", {"dense": 10}]
CONFIDENT = 0.9  # the "confident" in the claim: the clean prediction's probability


def _spec(settings: LabSettings, name: str, epochs: int, adversarial: dict[str, Any] | None) -> dict[str, Any]:
    data = {"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": 0.2, "seed": 0}}
    train = {"epochs": epochs, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.003}, "restore_best": False,
             "adversarial": adversarial}
    return run_spec(settings, f"adversarial-{name}", data, {"layers": LAYERS}, train)


def _flipped_example(run: lamina.Run, steps: int, seed: int) -> dict[str, Any]:
    """The most confident correct test prediction that PGD at ``EPS`` flips, with both predictions and the counts."""
    data = lamina.prepare_data(run.spec.data, fitted=run.preprocessor)
    bounds = valid_range(run.preprocessor, run.spec.data.scale, data.train.x)
    model = run.model.eval()
    x, y = data.test.x, data.test.y.long()
    adv = pgd(model, x, y, EPS, steps=steps, bounds=bounds, generator=torch.Generator().manual_seed(seed))
    clean, attacked = probabilities(model, x), probabilities(model, adv)
    confidence, predicted = clean.max(1)
    flipped = (predicted == y) & (attacked.argmax(1) != y) & (confidence >= CONFIDENT)
    count = int(flipped.sum())
    pick = int(torch.where(flipped, confidence, torch.zeros_like(confidence)).argmax())
    classes = run.preprocessor.target.classes
    return {"x": x[pick, 0], "adv": adv[pick, 0], "label": classes[int(y[pick])],
            "clean": (classes[int(predicted[pick])], float(confidence[pick])),
            "attacked": (classes[int(attacked[pick].argmax())], float(attacked[pick].max())),
            "flipped_confident": count, "confident_correct": int(((predicted == y) & (confidence >= CONFIDENT)).sum())}


def _figure(settings: LabSettings, example: dict[str, Any], curves: dict[str, list[float]], clean: dict[str, float]):
    """Left: input, perturbation and adversarial input with predictions; right: accuracy against eps for both models."""
    plt = pyplot()
    fig = plt.figure(figsize=(11, 3.2))
    grid = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 1.6])
    delta = example["adv"] - example["x"]
    panels = [(example["x"], "gray", (0, 1), "original: {} ({:.0%})".format(*example["clean"])),
              (delta, "seismic", (-EPS, EPS), f"perturbation (|d| <= {EPS:g})"),
              (example["adv"], "gray", (0, 1), "adversarial: {} ({:.0%})".format(*example["attacked"]))]
    for column, (image, cmap, (low, high), title) in enumerate(panels):
        ax = fig.add_subplot(grid[0, column])
        ax.imshow(image.detach().numpy(), cmap=cmap, vmin=low, vmax=high)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[0, 3])
    for name, accuracies in curves.items():
        ax.plot([0.0] + SWEEP, [clean[name]] + accuracies, marker="o", label=name)
    ax.axvline(EPS, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("PGD eps (fraction of pixel range)")
    ax.set_ylabel("test accuracy under attack")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    fig.suptitle(f"digit labelled {example['label']}: a correct, confident prediction flipped by PGD at eps {EPS:g}",
                 fontsize=10)
    return save_figure(fig, settings.figure_path("adversarial_example"))


def run(settings: LabSettings) -> LabOutcome:
    """Train a standard and an adversarially trained classifier, attack both with PGD, and draw the flipped digit."""
    epochs = 12 if settings.quick else 40
    steps = 10 if settings.quick else 40
    training = {"standard": None,
                "adversarially trained": {"method": "fgsm", "eps": EPS, "random_start": True, "ramp_epochs": 3}}
    rows, curves, clean, runs = [], {}, {}, {}
    for name, adversarial in training.items():
        settings.log(f"{name}: training {epochs} epochs")
        seed_everything(settings.seed)
        runs[name] = lamina.fit(_spec(settings, name.split()[0], epochs, adversarial), progress="none")
        settings.log(f"{name}: PGD-{steps} sweep over eps {', '.join(f'{e:g}' for e in SWEEP)}")
        report = attack_run(runs[name], AttackSettings(method="pgd", eps=SWEEP, steps=steps, examples=0,
                                                       seed=settings.seed))
        clean[name] = report["clean_accuracy"]
        curves[name] = [r["accuracy"] for r in report["results"]]
        rows.append({"model": name, "clean accuracy": clean[name],
                     **{f"PGD eps {e:g}": a for e, a in zip(SWEEP, curves[name])}})

    example = _flipped_example(runs["standard"], steps, settings.seed)
    figure = _figure(settings, example, curves, clean)

    at_eps = SWEEP.index(EPS)
    standard, robust = curves["standard"][at_eps], curves["adversarially trained"][at_eps]
    gain = robust - standard
    cost = clean["standard"] - clean["adversarially trained"]
    drop = clean["standard"] - standard
    confirmed = example["flipped_confident"] > 0 and drop > 0.3 and gain > 0.15 and cost < 0.05
    margin = (f"PGD-{steps} at eps {EPS:g} flipped {example['flipped_confident']} of the standard model's "
              f"{example['confident_correct']} correct test predictions made with >= {CONFIDENT:.0%} confidence "
              f"(needed >= 1) and cut its accuracy from {clean['standard']:.1%} to {standard:.1%} (a drop of "
              f"{drop * 100:.1f} points, needed > 30); adversarial training keeps {robust:.1%} "
              f"({gain * 100:+.1f} points, needed > +15) at a clean-accuracy cost of "
              f"{cost * 100:.1f} points (needed < 5)")
    numbers = {"standard_drop": drop, "standard_robust_accuracy": standard, "trained_robust_accuracy": robust,
               "robust_gain": gain, "clean_cost": cost, "flipped_confident": float(example["flipped_confident"]),
               "example_clean_confidence": example["clean"][1],
               "example_adversarial_confidence": example["attacked"][1]}
    return LabOutcome(table=rows, figures=[figure], confirmed=confirmed, margin=margin, numbers=numbers)
