"""Remedies: turn a diagnosis's findings into config changes, retrain, and report before and after.

Each finding names its changes (see :mod:`lamina.diagnose.detectors`); this
module maps them onto a run config: clipping and a lower rate for explosions,
dropout, weight decay and early stopping for overfitting, more capacity and
epochs for underfitting, ReLU, batch normalization and He init for vanishing
gradients, balanced class weights (or, when the loss is weighted already, a
balanced sampler) for class imbalance. Changes a config cannot take (dropout in a hand-written layer chain)
are reported as skipped, never silently dropped.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from lamina.config import RunSpec, parse_run_spec
from lamina.files import read_json, write_json
from lamina.registry import PRESETS
from lamina.train.callbacks import Callback
from lamina.train.loop import State

SQUASHING = ("sigmoid", "tanh")


def preset_fields(model: dict[str, Any]) -> set[str]:
    """The options the config's preset accepts (empty for a layer chain)."""
    if model.get("arch") is None:
        return set()
    return set(PRESETS.get(model["arch"], "model.arch").options.model_fields)


def apply_remedies(raw: dict[str, Any], findings: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """A copy of config ``raw`` with every finding's changes applied, and one line per change made or skipped."""
    out = copy.deepcopy(raw)
    model, train = out["model"], out.setdefault("train", {})
    optimizer = train.setdefault("optimizer", {})
    fields = preset_fields(model)
    notes: list[str] = []

    def put(section: dict[str, Any], key: str, value: Any, path: str) -> None:
        if section.get(key) != value:
            notes.append(f"{path}: {section.get(key)!r} -> {value!r}")
            section[key] = value

    changes: dict[str, Any] = {}
    for finding in findings:
        for key, value in finding.get("changes", {}).items():
            if key == "lr_factor" and key in changes:
                value = min(value, changes[key]) if min(value, changes[key]) < 1 else max(value, changes[key])
            changes[key] = value

    if "activation" in changes:
        if "activation" in fields:
            put(model, "activation", changes["activation"], "model.activation")
        elif model.get("layers") is not None:
            swapped = [changes["activation"] if item in SQUASHING + ("relu",) and item != changes["activation"]
                       and (item in SQUASHING or changes["activation"] == "leaky_relu") else item
                       for item in model["layers"]]
            if swapped != model["layers"]:
                notes.append(f"model.layers: activations -> {changes['activation']}")
                model["layers"] = swapped
    if changes.get("batchnorm"):
        if "batchnorm" in fields:
            put(model, "batchnorm", True, "model.batchnorm")
        else:
            notes.append("skipped batch normalization: add a batchnorm layer after each dense/conv layer by hand")
    if "init" in changes:
        put(model, "init", changes["init"], "model.init")
    if "dropout" in changes:
        if "dropout" in fields:
            put(model, "dropout", max(float(model.get("dropout") or 0.0), changes["dropout"]), "model.dropout")
        else:
            notes.append("skipped dropout: the model has no dropout option; add dropout layers to the chain")
    if "weight_decay" in changes:
        if optimizer.get("name", "adam") == "adam":
            put(optimizer, "name", "adamw", "train.optimizer.name")
        put(optimizer, "weight_decay", max(float(optimizer.get("weight_decay", 0.0)), changes["weight_decay"]),
            "train.optimizer.weight_decay")
    if "early_stopping" in changes and not train.get("early_stopping"):
        put(train, "early_stopping", {"monitor": "val_loss", "patience": changes["early_stopping"]},
            "train.early_stopping")
        put(train, "restore_best", True, "train.restore_best")
    if "capacity" in changes:
        if "hidden" in fields:
            hidden = model.get("hidden") or [64]
            wider = [max(64, changes["capacity"] * h) for h in hidden]
            put(model, "hidden", wider + wider[-1:] * max(0, 2 - len(wider)), "model.hidden")
        elif "channels" in fields and model.get("channels"):
            put(model, "channels", [2 * c for c in model["channels"]], "model.channels")
        else:
            notes.append("skipped more capacity: widen the layers of the chain by hand")
    if "epochs_factor" in changes:
        put(train, "epochs", int(train.get("epochs", 20) * changes["epochs_factor"]), "train.epochs")
    if "clip_norm" in changes:
        current = train.get("clip_norm")
        put(train, "clip_norm", min(current, changes["clip_norm"]) if current else changes["clip_norm"], "train.clip_norm")
    if "class_weight" in changes:
        data = out.setdefault("data", {})
        if not train.get("class_weight"):
            put(train, "class_weight", changes["class_weight"], "train.class_weight")
        elif data.get("sampler", "shuffle") != "balanced":
            put(data, "sampler", "balanced", "data.sampler")
        else:
            notes.append("skipped class imbalance: the loss is weighted and the sampler balanced already")
    if "lr_factor" in changes:
        lr = float(optimizer.get("lr", 1e-3))
        put(optimizer, "lr", float(f"{lr * changes['lr_factor']:.3g}"), "train.optimizer.lr")
    return out, notes


def saved_val(root: Path) -> dict[str, float]:
    """The validation logs of the model a run saved (the best epoch when restored, else the last epoch logged,
    also for a run that diverged before finishing); empty when no epoch ended."""
    from lamina.diagnose.run import read_history

    history = read_history(root / "metrics.jsonl")
    summary = read_json(root / "summary.json") if (root / "summary.json").is_file() else {}
    if not history:
        return {}
    epoch = summary["best_epoch"] if summary.get("restored_best") else history[-1]["epoch"]
    logs = next(h for h in history if h["epoch"] == epoch)
    return {k: v for k, v in logs.items() if k.startswith("val_")}


def train_with_remedies(spec: RunSpec, progress: str = "auto", extra_callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train ``spec``; if the diagnosis finds problems, apply their remedies, retrain and compare.

    A run that diverges (non-finite loss) counts as the exploding-gradients
    finding; the remedied run then rolls back to the diverged run's last good
    checkpoint and trains its remaining epochs from there at the lower rate. The comparison (detectors and validation metrics before and after)
    is written to the remedied run's remedy.json and returned. ``extra_callbacks``
    join the first run only.
    """
    from lamina.train.loop import TrainingDiverged
    from lamina.trainer import train

    spec = spec.model_copy(deep=True)
    spec.train.diagnose = True  # the before/after comparison needs both diagnoses
    try:
        before_root = train(spec, progress=progress, extra_callbacks=extra_callbacks).folder.root
    except TrainingDiverged:
        before_root = latest_run(Path(spec.runs_dir), spec.name)
    return remedy_run(before_root, spec.to_dict(), progress)


def remedy_run(before_root: Path, raw: dict[str, Any] | None = None, progress: str = "auto") -> dict[str, Any]:
    """Apply the remedies of a trained run's diagnosis.json to its config, retrain as ``<name>-remedied``, compare.

    ``raw`` is the run's config (default: its config.yaml). This is ``lamina diagnose RUN --remedy``
    and the second half of :func:`train_with_remedies`.
    """
    from lamina.config import load_config
    from lamina.runs import RunFolder
    from lamina.trainer import train

    before_root = Path(before_root)
    if raw is None:
        raw = load_config(RunFolder(before_root).config).to_dict()
        raw.setdefault("train", {})["diagnose"] = True
    before = read_json(before_root / "diagnosis.json")
    report: dict[str, Any] = {"before": {"run": str(before_root), "findings": [f["name"] for f in before["findings"]],
                                         "diverged": before.get("diverged"), "val": saved_val(before_root)}}
    if before["healthy"]:
        report["changes"] = []
        return report
    fixed, notes = apply_remedies(raw, before["findings"])
    fixed["name"] = f"{raw['name']}-remedied"
    start = rollback_point(before_root) if before.get("diverged") else None
    extra: list[Any] = []
    if start is not None and fixed["model"] != raw["model"]:
        notes.append(f"not rolled back to {start.folder}: the remedies change the model, so it trains from scratch")
    elif start is not None:
        done = start.meta.epoch
        fixed["train"]["epochs"] = max(1, int(fixed["train"].get("epochs", 20)) - done)
        notes.append(f"rolled back to the last good checkpoint {start.folder} (epoch {done}, step {start.meta.step}); "
                     f"training the remaining {fixed['train']['epochs']} epoch(s) from its weights")
        extra.append(StartFromWeights(start.model, start.folder))
        report["before"]["rollback"] = str(start.folder)
    after_run = train(parse_run_spec(fixed, "remedied config"), progress=progress, extra_callbacks=extra)
    after_root = after_run.folder.root
    after = read_json(after_root / "diagnosis.json")
    report["changes"] = notes
    report["after"] = {"run": str(after_root), "findings": [f["name"] for f in after["findings"]],
                       "diverged": after.get("diverged"), "val": saved_val(after_root)}
    report["fixed"] = [n for n in report["before"]["findings"] if n not in report["after"]["findings"]]
    write_json(RunFolder(after_root).root / "remedy.json", report)
    return report


def rollback_point(root: Path) -> Any:
    """The newest checkpoint of a diverged run that verifies (saved before the loss went bad); None if none."""
    from lamina.train.checkpoint import newest_checkpoint

    checkpoint, _ = newest_checkpoint(root / "checkpoints")
    return checkpoint


class StartFromWeights(Callback):
    """Load saved weights into the model as training starts: the remedied run continues from a good checkpoint."""

    def __init__(self, weights: dict[str, Any], source: Path) -> None:
        self.weights, self.source = weights, source

    def on_train_start(self, state: State) -> None:
        state.model.load_state_dict(self.weights)


def latest_run(runs_dir: Path, name: str) -> Path:
    """The most recently created run folder named ``name`` or ``name-<n>``."""
    candidates = [p for p in runs_dir.glob(f"{name}*") if p.name == name or p.name.removeprefix(f"{name}-").isdigit()]
    return max(candidates, key=lambda p: p.stat().st_mtime)


def format_remedy(report: dict[str, Any]) -> str:
    """The before/after comparison as plain lines."""
    before = report["before"]
    if "after" not in report:
        return f"no problems found in {before['run']}; nothing to remedy"
    after = report["after"]
    lines = [f"before: {before['run']}  problems: {', '.join(before['findings']) or 'none'}",
             "applied:"] + [f"  {n}" for n in report["changes"]]
    lines.append(f"after:  {after['run']}  problems: {', '.join(after['findings']) or 'none'}")
    for key in sorted(set(before["val"]) | set(after["val"])):
        b, a = before["val"].get(key, math.nan), after["val"].get(key, math.nan)
        lines.append(f"  {key}: {b:.4f} -> {a:.4f}")
    return "\n".join(lines)
