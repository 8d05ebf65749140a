"""Lab 1: gradients vanish through a deep stack of sigmoids, and ReLU, BatchNorm and skip connections keep them alive.

Like a whisper passed through a hundred people, each sigmoid layer multiplies
the backward signal by at most 0.25, so after twenty layers the first layer
hears almost nothing. Four 20-layer MLPs of the same width are built from
lamina's layer chains; the lab measures each layer's gradient norm on one
batch at initialization, then trains all four for the same number of epochs.
"""

from __future__ import annotations

from typing import Any

import torch

import lamina
from lamina.labs.kit import LabOutcome, LabSettings
from lamina.report.figures import pyplot, save_figure
from lamina.trainer import seed_everything

ORDER = 1
TITLE = "Vanishing gradients"
CLAIM = ("In a deep sigmoid MLP the gradient reaching the first layers is orders of magnitude smaller than at the "
         "last, so it barely learns; ReLU with BatchNorm, or residual connections, keep every layer's gradient alive.")

DEPTH = 20
WIDTH = 64


def _chains() -> dict[str, tuple[list[Any], str]]:
    """Each model's layer chain and the initializer that suits its activation (Glorot for sigmoid, He for ReLU; PyTorch's smaller default for the residual stack, where He would double the variance at every skip)."""
    dense = {"dense": {"units": WIDTH}}
    return {
        "sigmoid": ([item for _ in range(DEPTH) for item in (dense, "sigmoid")], "glorot"),
        "relu": ([item for _ in range(DEPTH) for item in (dense, "relu")], "he"),
        "relu+batchnorm": ([item for _ in range(DEPTH) for item in (dense, "batchnorm", "relu")], "he"),
        "residual relu": ([dense, "relu"] + [{"residual": [dense, "relu"]} for _ in range(DEPTH - 1)], "default"),
    }


def _spec(settings: LabSettings, name: str, chain: list[Any], init: str, epochs: int) -> dict[str, Any]:
    return {
        "name": f"vanishing-{name.replace(' ', '-').replace('+', '-')}",
        "runs_dir": settings.runs_dir(),
        "seed": settings.seed,
        "data": {"dataset": "digits", "view": "flat", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
        "model": {"layers": chain + [{"dense": 10}], "init": init},
        "train": {"epochs": epochs, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.001},
                  "tensorboard": False, "diagnose": False, "early_stopping": None},
    }


def _layer_gradients(spec: dict[str, Any]) -> list[float]:
    """Gradient norm of each dense layer's weight, first to last, on one batch of 256 training rows."""
    seed_everything(spec["seed"])
    built = lamina.build(spec)
    data = lamina.prepare_data(lamina.parse_run_spec(spec).data)
    x, y = data.train.x[:256], data.train.y[:256]
    loss = torch.nn.functional.cross_entropy(built.model(x), y)
    loss.backward()
    return [p.grad.norm().item() for name, p in built.model.named_parameters()
            if name.endswith("weight") and p.dim() == 2][:-1]  # the output layer is the same in every model


def run(settings: LabSettings) -> LabOutcome:
    """Measure per-layer gradient norms at initialization and test accuracy after training, for all four models."""
    epochs = 8 if settings.quick else 40
    norms: dict[str, list[float]] = {}
    rows = []
    for name, (chain, init) in _chains().items():
        spec = _spec(settings, name, chain, init, epochs)
        norms[name] = _layer_gradients(spec)
        settings.log(f"{name}: training {epochs} epochs")
        trained = lamina.fit(spec, progress="none")
        accuracy = lamina.evaluate_run(trained)["metrics"]["accuracy"]
        first, last = norms[name][0], norms[name][-1]
        rows.append({"model": name, "first-layer grad": first, "last-layer grad": last,
                     "first / last": first / last, "test accuracy": accuracy})

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in norms.items():
        ax.semilogy(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    ax.set_xlabel("layer (1 = nearest the input)")
    ax.set_ylabel("gradient norm at initialization")
    ax.set_title(f"{DEPTH}-layer MLPs on digits, one batch of 256")
    ax.legend()
    figure = save_figure(fig, settings.figure_path("gradient_norms"))

    by_model = {row["model"]: row for row in rows}
    sigmoid_ratio = by_model["sigmoid"]["first / last"]
    others = [row for row in rows if row["model"] != "sigmoid"]
    kept = min(row["first / last"] for row in others)
    best = max(others, key=lambda row: row["test accuracy"])
    gap = best["test accuracy"] - by_model["sigmoid"]["test accuracy"]
    confirmed = sigmoid_ratio < 1e-3 and kept > 1e-2 and gap > 0.3
    margin = (f"sigmoid's first layer gets {sigmoid_ratio:.1e} of its last layer's gradient (needed < 1e-3); "
              f"ReLU, ReLU+BatchNorm and residual keep at least {kept:.2g} (needed > 1e-2); after {epochs} epochs "
              f"{best['model']} beats the sigmoid stack by {gap * 100:.1f} accuracy points (needed > 30)")
    numbers = {"sigmoid_first_over_last": sigmoid_ratio, "kept_first_over_last": kept, "accuracy_gap": gap}
    return LabOutcome(table=rows, figures=[figure], confirmed=confirmed, margin=margin, numbers=numbers)
