"""Lab 11: pruning, int8 quantization and distillation trade a little accuracy for size and speed.

One MLP is trained on the digits (the teacher). ``lamina.compress.run.compress``
then makes new run folders from it: structured pruning (whole neurons go, the
layers get narrower) at two amounts, unstructured pruning (single weights go,
the matrices keep their shape), dynamic int8 quantization, structured pruning
followed by int8, and a small student distilled from the teacher (beside the
same student trained on labels alone). Static int8 (weights and activations,
calibrated on training inputs) comes from ``lamina.compress.quantize``. Every
model is scored on the same test digits, its weights are counted in bytes as
they are stored, and its batch-256 CPU latency is the median of interleaved
rounds (each model timed once per round) so machine load hits them alike.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import torch
from torch import nn

import lamina
from lamina.compress.measure import latency
from lamina.compress.quantize import quantize_static, weight_bytes
from lamina.compress.run import CompressOptions, compress
from lamina.config import save_config
from lamina.labs.kit import LabOutcome, LabSettings
from lamina.report.figures import pyplot, save_figure

ORDER = 11
TITLE = "Compression"
CLAIM = ("Pruning, int8 quantization or distillation can make a network at least 3 times smaller and 2 times faster "
         "while it loses under one point of test accuracy.")

TEACHER = [512, 512]
STUDENT = [64]
NEEDED_SMALLER, NEEDED_FASTER, NEEDED_DROP = 3.0, 2.0, 1.0  # times, times, accuracy points
BATCH = 256
DISTILLED = f"distilled student {STUDENT}"
ALONE = f"student {STUDENT} alone"  # a reference, not a compression of the teacher: it never counts as passing


def _spec(settings: LabSettings, name: str, hidden: list[int], epochs: int) -> dict[str, Any]:
    """A digits MLP run (flat 64 pixels in), with the same split and training settings for every model."""
    layers = [item for units in hidden for item in ({"dense": units}, "relu")] + [{"dense": 10}]
    return {"name": name, "runs_dir": settings.runs_dir(), "seed": settings.seed,
            "data": {"dataset": "digits", "view": "flat", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
            "model": {"layers": layers},
            "train": {"epochs": epochs, "batch_size": 64, "optimizer": {"name": "adamw", "lr": 0.001},
                      "tensorboard": False, "diagnose": False}}


def _variants(settings: LabSettings, teacher: Path, epochs: int, finetune: int) -> dict[str, nn.Module]:
    """Every compressed model, keyed by its label, built with lamina's compress functions from the teacher run."""
    student_yaml = settings.out / "student.yaml"
    save_config(lamina.parse_run_spec(_spec(settings, "student", STUDENT, epochs)), student_yaml)
    options = {
        "structured prune 50%": CompressOptions(prune=0.5, prune_mode="structured"),
        "structured prune 75%": CompressOptions(prune=0.75, prune_mode="structured"),
        "unstructured prune 80%": CompressOptions(prune=0.8, prune_mode="global"),
        "dynamic int8": CompressOptions(quantize="dynamic"),
        "structured 50% + int8": CompressOptions(prune=0.5, prune_mode="structured", quantize="dynamic"),
        DISTILLED: CompressOptions(distill=student_yaml),
    }
    models = {}
    for index, (label, option) in enumerate(options.items()):
        settings.log(f"compressing: {label}")
        option.finetune_epochs, option.seed, option.progress = finetune, settings.seed, "none"
        option.name = f"compressed-{index}"
        models[label] = lamina.load_run(compress(teacher, option)).model
    settings.log(f"training the student {STUDENT} on labels alone")
    models[ALONE] = lamina.fit(_spec(settings, "student-alone", STUDENT, epochs),
                                                     progress="none").model
    return models


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of test digits the model classifies correctly (eval mode, CPU)."""
    model.eval()
    with torch.inference_mode():
        return float((model(x).argmax(dim=1) == y.reshape(-1)).float().mean())


def _latencies(models: dict[str, nn.Module], shape: tuple[int, ...], rounds: int, repeats: int) -> dict[str, float]:
    """Median batch-256 latency (seconds) of each model over ``rounds`` interleaved rounds."""
    times: dict[str, list[float]] = {label: [] for label in models}
    for _ in range(rounds):
        for label, model in models.items():
            times[label].append(latency(model, shape, BATCH, repeats))
    return {label: statistics.median(values) for label, values in times.items()}


def _nonzero(model: nn.Module) -> int:
    """Weights and biases that are not exactly zero (int8 tensors dequantized to count)."""
    total = 0
    for value in model.state_dict().values():
        tensors = value if isinstance(value, tuple) else (value,)
        for tensor in tensors:
            if isinstance(tensor, torch.Tensor) and tensor.dim() > 0:
                total += int((tensor.dequantize() if tensor.is_quantized else tensor).count_nonzero())
    return total


def run(settings: LabSettings) -> LabOutcome:
    """Train the teacher, compress it every way, and compare accuracy, stored size and latency."""
    epochs, finetune, rounds, repeats = (15, 3, 5, 10) if settings.quick else (40, 8, 9, 30)
    settings.log(f"training the teacher MLP {TEACHER} for {epochs} epochs")
    teacher = lamina.fit(_spec(settings, "teacher", TEACHER, epochs), progress="none")
    data = lamina.prepare_data(teacher.spec.data, fitted=teacher.preprocessor)
    models = {f"original {TEACHER}": teacher.model.cpu()}
    models.update(_variants(settings, teacher.folder.root, epochs, finetune))
    models["static int8"] = quantize_static(teacher.model, data.train.x)
    settings.log(f"timing {len(models)} models at batch {BATCH}: {rounds} interleaved rounds of {repeats}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread for every model, so the comparison is not about thread scheduling
    try:
        seconds = _latencies(models, tuple(data.train.x.shape[1:]), rounds, repeats)
    finally:
        torch.set_num_threads(threads)

    rows = _rows(models, seconds, data.test.x, data.test.y)
    figure = _plot(settings, rows, len(data.test))
    confirmed, margin, numbers = _verdict(rows, len(data.test))
    return LabOutcome(table=rows, figures=[figure], confirmed=confirmed, margin=margin, numbers=numbers)


def _rows(models: dict[str, nn.Module], seconds: dict[str, float], x: torch.Tensor,
          y: torch.Tensor) -> list[dict[str, Any]]:
    """One table row per model: stored size, nonzero weights, latency, accuracy, and each against the original."""
    original = next(iter(models))
    base_bytes, base_seconds = weight_bytes(models[original]), seconds[original]
    base_accuracy = _accuracy(models[original], x, y)
    rows = []
    for label, model in models.items():
        accuracy = _accuracy(model, x, y)
        size = weight_bytes(model)
        rows.append({"model": label, "KiB": round(size / 1024, 1), "nonzero": _nonzero(model),
                     "ms @256": round(seconds[label] * 1e3, 3), "accuracy": round(accuracy, 4),
                     "x smaller": round(base_bytes / size, 2), "x faster": round(base_seconds / seconds[label], 2),
                     "change (points)": round((accuracy - base_accuracy) * 100, 2)})
    return rows


def _verdict(rows: list[dict[str, Any]], test_size: int) -> tuple[bool, str, dict[str, float]]:
    """Whether some compressed model (the student trained alone is a reference, not one) meets all three thresholds."""
    by_model = {row["model"]: row for row in rows}
    compressed = [row for row in rows[1:] if row["model"] != ALONE]
    passing = [row for row in compressed if row["x smaller"] >= NEEDED_SMALLER and row["x faster"] >= NEEDED_FASTER
               and -row["change (points)"] < NEEDED_DROP]
    best = max(passing or compressed, key=lambda row: (row["change (points)"], row["x smaller"]))
    distilled, alone = by_model[DISTILLED]["change (points)"], by_model[ALONE]["change (points)"]
    names = ", ".join(row["model"] for row in passing)
    verdict = (f"{len(passing)} of {len(compressed)} compressed models pass ({names}); " if passing
               else f"none of {len(compressed)} compressed models passes; ")
    margin = (verdict + f"{'best' if passing else 'closest'}: {best['model']}, {best['x smaller']:.1f}x smaller and "
              f"{best['x faster']:.1f}x faster at batch {BATCH} with {best['change (points)']:+.2f} accuracy "
              f"points on {test_size} test digits (needed >= {NEEDED_SMALLER:.0f}x smaller, >= "
              f"{NEEDED_FASTER:.0f}x faster, loss < {NEEDED_DROP:.0f} point; "
              f"teacher {rows[0]['accuracy'] * 100:.2f}%); "
              f"the distilled student changed accuracy by {distilled:+.2f} points, the same student trained alone by "
              f"{alone:+.2f}")
    numbers = {"original_accuracy": rows[0]["accuracy"], "passing_models": float(len(passing)),
               "best_smaller": best["x smaller"], "best_faster": best["x faster"],
               "best_accuracy_change": best["change (points)"],
               "distilled_change": distilled, "student_alone_change": alone}
    return bool(passing), margin, numbers


def _plot(settings: LabSettings, rows: list[dict[str, Any]], test_size: int) -> Path:
    """Two panels: test accuracy against stored weight size, and against batch-256 latency."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    markers = "o*sD^v<>Xph"
    for index, row in enumerate(rows):
        for ax, key in zip(axes, ("KiB", "ms @256")):
            ax.scatter(row[key], row["accuracy"] * 100, s=120 if index == 0 else 60,
                       marker=markers[index % len(markers)], label=row["model"] if ax is axes[1] else None)
    base = rows[0]["accuracy"] * 100
    for ax, key, unit in zip(axes, ("KiB", "ms @256"), ("stored weights (KiB, log scale)",
                                                                  f"CPU latency at batch {BATCH} (ms, log scale)")):
        ax.set_xscale("log")
        ax.axhline(base - NEEDED_DROP, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(unit)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"test accuracy (%), {test_size} digits")
    axes[0].text(axes[0].get_xlim()[0], base - NEEDED_DROP, " teacher - 1 point", va="bottom", color="grey")
    fig.suptitle("Digits MLP: accuracy against size and latency after pruning, quantization and distillation")
    axes[1].legend(loc="lower right", fontsize=8)  # slow and inaccurate: the corner no model should reach
    return save_figure(fig, settings.figure_path("accuracy_size_latency"))
