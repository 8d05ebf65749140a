"""Lab 9: Grad-CAM and integrated gradients on digits, and the sanity check that tells explanation from input.

Adebayo et al. (2018) asked whether saliency maps depend on the model at all.
Their model-parameter randomization test re-initializes the weights and
compares the maps: a map that barely changes describes the input, not what the
model learned. Here a digits CNN is trained twice (two seeds) and copies of
the same architecture keep random weights. For the same test digits and
the same explained class (the first model's prediction), Grad-CAM and
integrated gradients (signed, and as |attribution|) are compared by Spearman
rank correlation, averaged over five random initializations. The paper's finding, reproduced: Grad-CAM and signed IG
change completely, while |IG| (input times an averaged gradient) keeps the
digit's shape whatever the weights, so it looks plausible and still fails.
Integrated gradients run twice on the trained model (32 and 64 steps) shows
that the maps themselves are stable.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

import lamina
from lamina.explain.attribute import gradcam, integrated_gradients
from lamina.explain.sanity import rank_correlation
from lamina.labs.kit import LabOutcome, LabSettings, run_spec
from lamina.report.figures import pyplot, save_figure
from lamina.trainer import seed_everything

ORDER = 9
TITLE = "Interpretability"
CLAIM = ("Grad-CAM and signed integrated-gradients maps of a digits CNN lose their rank agreement when its weights "
         "are randomized (Adebayo et al.'s sanity check), while |integrated gradients| barely changes because the "
         "input's shape dominates it: a map that looks right can still fail the check.")

SENSITIVE = ("Grad-CAM", "integrated gradients")  # expected to pass the check
INPUT_BOUND = "|integrated gradients|"  # expected to fail it
SHOWN = 4  # digits drawn in the figure
RANDOM_MAX = 0.2  # |rho| below which a map counts as unrelated to the trained one
TWIN_GAP = 0.2  # how much more two trained copies must agree than trained and random
INPUT_BOUND_MIN = 0.7  # rho above which a map is "barely changed" by randomization
RANDOM_COPIES = 5  # random initializations compared against (one draw alone varies by about +-0.1)


def _spec(settings: LabSettings, seed: int, epochs: int) -> dict[str, Any]:
    """The CNN's run config with ``seed`` (each trained or randomized copy gets its own)."""
    data = {"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": 0.2, "seed": 0}}
    model = {"arch": "cnn", "channels": [16, 32], "dense": [64]}
    return run_spec(replace(settings, seed=seed), f"interpretability-seed{seed}", data, model,
                    {"epochs": epochs, "optimizer": {"lr": 0.003}})


def _maps(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, steps: int) -> dict[str, torch.Tensor]:
    """Each method's per-pixel map (B, H, W) for the samples ``x`` and classes ``target``."""
    model.eval()
    ig, _ = integrated_gradients(model, x, target, steps=steps)
    return {"Grad-CAM": gradcam(model, x, target).sum(dim=1), "integrated gradients": ig.sum(dim=1),
            INPUT_BOUND: ig.abs().sum(dim=1)}


def _figure(settings: LabSettings, x: torch.Tensor, maps: dict[str, dict[str, torch.Tensor]], labels: list[str]):
    """Rows: digits; columns: the input, then each method for the trained and the randomized model."""
    plt = pyplot()
    columns = [("input", None, None)] + [(f"{method}\n{model}", model, method)
                                         for method in (*SENSITIVE, INPUT_BOUND) for model in ("trained", "randomized")]
    fig, axes = plt.subplots(SHOWN, len(columns), figsize=(1.6 * len(columns), 1.7 * SHOWN + 0.7), squeeze=False)
    for row in range(SHOWN):
        for col, (title, model, method) in enumerate(columns):
            ax = axes[row][col]
            if model is None:
                ax.imshow(x[row, 0].numpy(), cmap="gray")
                ax.set_ylabel(f"explains {labels[row]}", fontsize=8)
            else:
                heat = maps[model][method][row]
                scale = max(float(heat.abs().max()), 1e-12)
                signed = bool((heat < 0).any())
                ax.imshow(heat.numpy() / scale, cmap="seismic" if signed else "magma", vmin=-1 if signed else 0,
                          vmax=1)
            if row == 0:
                ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("attribution maps of a trained digits CNN and of the same CNN with random weights", fontsize=9)
    return save_figure(fig, settings.figure_path("sanity_check"))


def run(settings: LabSettings) -> LabOutcome:
    """Train two CNNs, draw five at random weights, and compare their attribution maps on test digits."""
    epochs = 8 if settings.quick else 25
    count = 100 if settings.quick else 360
    steps = 32 if settings.quick else 100
    trained = []
    for seed in (settings.seed, settings.seed + 1):
        settings.log(f"training CNN with seed {seed} for {epochs} epochs")
        seed_everything(seed)
        trained.append(lamina.fit(_spec(settings, seed, epochs), progress="none"))
    reference = trained[0]
    data = lamina.prepare_data(reference.spec.data, fitted=reference.preprocessor)
    x = data.test.x[:count].float()
    with torch.no_grad():
        target = reference.model.eval()(x).argmax(1)
    accuracy = float((target == data.test.y[:count]).float().mean())
    settings.log(f"attributing {count} test digits with Grad-CAM and integrated gradients ({steps} steps)")
    maps = {"trained": _maps(reference.model, x, target, steps),
            "other seed": _maps(trained[1].model, x, target, steps)}
    randomized = []
    for seed in range(settings.seed + 2, settings.seed + 2 + RANDOM_COPIES):
        seed_everything(seed)
        randomized.append(_maps(lamina.build(_spec(settings, seed, epochs)).model, x, target, steps))
    maps["randomized"] = randomized[0]
    rerun = _maps(reference.model, x, target, 2 * steps)["integrated gradients"]
    stability = float(rank_correlation(maps["trained"]["integrated gradients"], rerun).mean())

    rows, agreement = [], {}
    for method in (*SENSITIVE, INPUT_BOUND):
        twins = float(rank_correlation(maps["trained"][method], maps["other seed"][method]).mean())
        random = sum(float(rank_correlation(maps["trained"][method], copy[method]).mean())
                     for copy in randomized) / RANDOM_COPIES
        agreement[method] = (twins, random)
        rows.append({"method": method, "trained vs other seed": twins, "trained vs randomized": random,
                     "changes with the weights": abs(random) < RANDOM_MAX})

    classes = reference.preprocessor.target.classes
    figure = _figure(settings, x, maps, [classes[int(t)] for t in target[:SHOWN]])
    passes = all(abs(random) < RANDOM_MAX and twins - random > TWIN_GAP for twins, random in
                 (agreement[m] for m in SENSITIVE))
    bound = agreement[INPUT_BOUND][1]
    confirmed = accuracy > 0.9 and stability > 0.95 and passes and bound > INPUT_BOUND_MIN
    margin = "; ".join(f"{m}: trained vs randomized rho {agreement[m][1]:.2f} (mean over {RANDOM_COPIES} random "
                       f"initializations; needed |rho| < {RANDOM_MAX:g}), "
                       f"two trained copies {agreement[m][0]:.2f} (needed {TWIN_GAP:g} more)" for m in SENSITIVE)
    margin += (f"; {INPUT_BOUND}: trained vs randomized rho {bound:.2f} (needed > {INPUT_BOUND_MIN:g}: it fails the "
               f"check); IG rerun at {2 * steps} steps agrees at rho {stability:.3f} (needed > 0.95); the explained "
               f"CNN scores {accuracy:.1%} on these digits (needed > 90%)")
    numbers = {"test_accuracy": accuracy, "ig_rerun_agreement": stability}
    for method, (twins, random) in agreement.items():
        key = method.strip("|").replace(" ", "_").replace("-", "").lower() + ("_abs" if method == INPUT_BOUND else "")
        numbers |= {f"{key}_trained_vs_trained": twins, f"{key}_trained_vs_randomized": random}
    return LabOutcome(table=rows, figures=[figure], confirmed=confirmed, margin=margin, numbers=numbers)
