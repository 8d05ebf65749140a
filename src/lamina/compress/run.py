"""``lamina compress``: distill, prune and/or quantize a run into a new run folder, and compare the two.

The steps run in that order, each optional: a student config trained from the
run as teacher, pruning (structured, or unstructured global/per layer; one
shot or in ``steps`` rounds, each followed by fine-tuning), then int8
quantization: dynamic (int8 weights of dense and recurrent layers), static
(weights and activations, calibrated on the run's own training rows; for conv
nets) or qat (static int8 after a short quantization-aware fine-tune). The new
folder holds an ordinary config.yaml (a pruned chain is written out with its
new widths), preprocess.json, model.safetensors (int8 weights carry a format
marker) and compression.json with the comparison table
and the per-layer sparsity report; :func:`lamina.load_run` rebuilds it.
With ``--distill`` alone the student's own run folder, named ``--name``, is the
result (compression.json is added to it); when pruning or quantization follows,
the student trains into ``<name>-student`` and the compressed run goes to ``<name>``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from lamina.config import ModelSpec, Options, RunSpec, load_config, save_config
from lamina.data.prepare import Prepared, prepare_data
from lamina.device import resolve_device
from lamina.evaluate.metrics import resolve_metrics
from lamina.evaluate.scoring import score
from lamina.files import save_tensors, write_json
from lamina.nn.build import ChainModel, chain_items
from lamina.nn.int8 import INT8_FORMAT, INT8_STATIC_FORMAT, int8_tensors, quantize_dynamic_int8
from lamina.nn.layers import parse_chain
from lamina.nn.outputs import model_outputs
from lamina.runs import PREDICT_BATCH, Run, RunFolder, load_run
from lamina.train.callbacks import Callback, Progress
from lamina.train.loop import State, fit
from lamina.trainer import seed_everything, train

from lamina.compress.distill import Distill
from lamina.compress.measure import latency, stored_params
from lamina.compress.pruning import make_permanent, prune_structured, prune_unstructured, sparsity_report
from lamina.compress.quantize import quantize_aware, quantize_static

PRUNE_MODES = ("structured", "global", "layer")
QUANTIZE_MODES = ("dynamic", "static", "qat")
CALIBRATION_ROWS = 1024  # training rows whose activation ranges static int8 records
QAT_LR_FACTOR = 0.1  # quantization-aware fine-tuning starts from trained weights: a tenth of the run's lr


class CompressOptions(Options):
    """What to do; every step is optional but at least one must be asked for."""

    prune: float | None = Field(None, gt=0, lt=1)
    prune_mode: Literal[PRUNE_MODES] = "structured"
    steps: int = Field(1, ge=1)
    finetune_epochs: int = Field(5, ge=0)
    quantize: Literal[QUANTIZE_MODES] | None = None
    distill: Path | None = None
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.7, ge=0, le=1)
    name: str | None = None
    seed: int = Field(0, ge=0)
    progress: str = "auto"

    @model_validator(mode="after")
    def _asks_for_a_step(self) -> CompressOptions:
        if self.prune is None and self.quantize is None and self.distill is None:
            raise ValueError("compress needs at least one of prune (an amount), quantize (dynamic|static|qat) or "
                             "distill (a student config)")
        return self


class KeepBest(Callback):
    """Remember the weights of the epoch with the lowest validation (or training) loss, in memory."""

    def __init__(self) -> None:
        self.best: float | None = None
        self.weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, state: State) -> None:
        value = state.logs.get("val_loss", state.logs["train_loss"])
        if self.best is None or value < self.best:
            self.best = value
            self.weights = {k: v.detach().clone() for k, v in state.model.state_dict().items()}


def finetune(model: nn.Module, data: Prepared, spec: RunSpec, epochs: int, seed: int, progress: str) -> None:
    """Train ``model`` for ``epochs`` more epochs with the run's own settings, keeping its best epoch."""
    if epochs == 0:
        return
    train_spec = spec.train.model_copy(update={"epochs": epochs, "early_stopping": None})
    best = KeepBest()
    seed_everything(seed)
    fit(model, data, train_spec, [Progress(progress), best], resolve_device(spec.train.device), seed=seed,
        batch_path=spec.data.batch_path, workers=spec.data.loader_workers)
    if best.weights is not None:
        model.load_state_dict(best.weights)


def compress(run_path: str | Path, options: CompressOptions) -> Path:
    """Compress the run at ``run_path`` into a new run folder; returns that folder."""
    original = load_run(run_path)
    spec = original.spec.model_copy(deep=True)
    spec.name = options.name or f"{spec.name}-compressed"
    data = prepare_data(spec.data, fitted=original.preprocessor)
    model: nn.Module = copy.deepcopy(original.model)
    report: dict[str, Any] = {"source": Path(run_path).name, "steps": []}

    if options.distill is not None:
        more = options.prune is not None or options.quantize is not None
        name = spec.name
        student = distill(original, options, f"{name}-student" if more else name)
        spec, model = student.spec.model_copy(deep=True), copy.deepcopy(student.model)
        spec.name = name
        report["steps"].append({"distill": {"student": Path(options.distill).name, "temperature": options.temperature,
                                            "alpha": options.alpha, "run": student.folder.root.name}})
        if not more:  # the student's own run folder is the result: one name, one folder
            return finish(original, student.folder.root, report)
    if options.prune is not None:
        spec, model = prune(model, spec, data, options)
        report["steps"].append({"prune": {"amount": options.prune, "mode": options.prune_mode, "steps": options.steps,
                                          "finetune_epochs": options.finetune_epochs}})
        report["sparsity"] = sparsity_report(model)
    tensors, metadata = model.state_dict(), None
    if options.quantize is not None:  # before the folder exists: a model that cannot be quantized leaves nothing behind
        qmodel, fmt, what = quantize_int8(model, spec, data, options)
        tensors, metadata = int8_tensors(qmodel), {"format": fmt, "scheme": options.quantize}
        report["steps"].append({"quantize": what})
    folder = RunFolder.create(spec.runs_dir, spec.name)
    save_config(spec, folder.config)
    write_json(folder.preprocess, original.preprocessor.to_json())
    save_tensors(folder.weights, tensors, metadata=metadata)
    return finish(original, folder.root, report)


def finish(original: Run, root: Path, report: dict[str, Any]) -> Path:
    """Add the comparison with the original to ``report`` and save it as ``root``/compression.json; returns ``root``."""
    report["comparison"] = [compare(original, "original"), compare(load_run(root), "compressed")]
    write_json(root / "compression.json", report)
    return root


def distill(teacher: Run, options: CompressOptions, name: str) -> Run:
    """Train the student config on the teacher's data, with the teacher's soft targets in the loss."""
    student = load_config(options.distill)
    student.data = teacher.spec.data.model_copy(deep=True)
    student.name, student.runs_dir = name, teacher.spec.runs_dir
    return train(student, progress=options.progress,
                 extra_callbacks=[Distill(copy.deepcopy(teacher.model), options.temperature, options.alpha)])


def prune(model: nn.Module, spec: RunSpec, data: Prepared, options: CompressOptions) -> tuple[RunSpec, nn.Module]:
    """Prune in ``options.steps`` rounds (fine-tuning after each); structured pruning rewrites the chain."""
    per_step = 1 - (1 - options.prune) ** (1 / options.steps)
    shape, n_out = data.input_shape, data.n_outputs
    for step in range(options.steps):
        if options.prune_mode == "structured":
            calls = parse_chain(chain_items(spec.model, shape, n_out), "model.layers")
            pruned = prune_structured(calls, model.layers, shape, per_step)
            spec = spec.model_copy(deep=True)
            spec.model = ModelSpec(layers=pruned.items, init=spec.model.init)
            model = ChainModel(pruned.model, shape, (n_out,))
        else:
            prune_unstructured(model, per_step, options.prune_mode)  # of the weights still unpruned
        finetune(model, data, spec, options.finetune_epochs, options.seed + step, options.progress)
    make_permanent(model)
    return spec, model


def quantize_int8(model: nn.Module, spec: RunSpec, data: Prepared, options: CompressOptions) -> tuple[nn.Module, str, str]:
    """The int8 model for ``options.quantize``, its file format marker, and a line for the report."""
    if options.quantize == "dynamic":
        return quantize_dynamic_int8(model), INT8_FORMAT, "dynamic int8 (linear layers)"
    rows = data.train.x[:CALIBRATION_ROWS]
    if options.quantize == "static":
        return (quantize_static(model, rows), INT8_STATIC_FORMAT,
                f"static int8 (weights and activations), calibrated on {len(rows)} training rows")
    optimizer = spec.train.optimizer.model_copy(update={"lr": spec.train.optimizer.lr * QAT_LR_FACTOR})
    qat_spec = spec.model_copy(update={"train": spec.train.model_copy(update={"optimizer": optimizer})})
    qmodel = quantize_aware(model, rows, lambda prepared: finetune(prepared, data, qat_spec, options.finetune_epochs,
                                                                   options.seed, options.progress))
    return qmodel, INT8_STATIC_FORMAT, f"static int8 after {options.finetune_epochs} epochs of quantization-aware training"


def compare(run: Run, label: str) -> dict[str, Any]:
    """One row of the comparison table: stored values, file size, CPU latency at batch 1 and 256, test score."""
    data = prepare_data(run.spec.data, fitted=run.preprocessor)
    outputs = model_outputs(run.model, data.test.x, PREDICT_BATCH, run.device)
    metrics = score(outputs, data.test.y, run.preprocessor.target, resolve_metrics(run.spec.eval.metrics, run.task))
    metric = "accuracy" if "accuracy" in metrics else next((k for k in metrics if k != "confusion_matrix"), None)
    shape = tuple(run.preprocessor.inputs.shape)
    with torch.inference_mode():
        return {
            "model": label,
            "params": stored_params(run.folder.weights),
            "file_bytes": run.folder.weights.stat().st_size,
            "latency_b1_ms": round(latency(run.model.cpu(), shape, 1) * 1e3, 4),
            "latency_b256_ms": round(latency(run.model.cpu(), shape, 256) * 1e3, 4),
            "metric": metric,
            "score": metrics.get(metric) if metric else None,
        }
