"""Checkpoints: the whole training state, written atomically and verified when read.

``checkpoints/step-000000120/`` (named by the optimizer step) holds:

* ``model.safetensors``: the weights;
* ``optimizer.safetensors``: every optimizer tensor, flattened by name;
* ``state.safetensors``: the torch, CUDA, batch-order and callbacks' RNG states, the callbacks' tensors
  (``callback.<name>.<tensor>``) and the per-batch losses so far;
* ``state.json``: everything else: the position (epoch, batch in the epoch, step), the resolved
  config and the hash of its locked part, library versions, the optimizer layout, the schedule,
  the grad scaler, Python's and NumPy's RNG states, the epoch logs and the callbacks' state;
* ``manifest.json``: the size and SHA-256 of each file above, written last.

Each file is written atomically (see :mod:`lamina.files`). A folder whose
manifest is missing, or whose files do not match it, is an interrupted or
damaged save and is never used: resuming takes the newest folder that
verifies, and older ones are removed only after a newer one is complete.
``checkpoints/best.json`` names the folder of the best epoch so far.
Nothing is unpickled: tensors are safetensors, the rest JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import random
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import lamina
from lamina.config import CheckpointSpec
from lamina.errors import ConfigError, RunFolderError
from lamina.files import (atomic_write_bytes, decode_json, decode_tensors, encode_json, encode_tensors, fsync_dir,
                          read_json, write_json)
from lamina.train.callbacks import Callback, first_problem, improved, validate_state

if TYPE_CHECKING:
    from lamina.train.loop import State

FORMAT = "lamina-checkpoint-2"
MANIFEST = "manifest.json"
FILES = ("model.safetensors", "optimizer.safetensors", "state.safetensors", "state.json")
BEST = "best.json"
STEP_FOLDER = re.compile(r"^step-(\d{9,})$")
# Config fields that decide what the next step computes from the saved state; a resume must not change them.
LOCKED = ("seed", "data", "model", "train.optimizer", "train.schedule", "train.batch_size",
          "train.accumulate_steps", "train.precision")
UNLOCKED_INSIDE = ("data.loader_workers",)
# An epoch end's checkpoint larger than this is written at once instead of being held in memory until later.
HOLD_BYTES = 64 * 2**20
# What restoring may raise when a file is well formed but does not fit this model or optimizer.
RESTORE_ERRORS = (RuntimeError, ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


def folder_name(step: int) -> str:
    """The folder of the checkpoint written after ``step`` optimizer steps."""
    return f"step-{step:09d}"


def step_folders(root: Path) -> list[Path]:
    """Checkpoint folders under ``root``, newest (highest step) first, complete or not."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := STEP_FOLDER.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


# ---------------------------------------------------------------- config


def locked_view(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved config that a resume must leave unchanged."""
    out: dict[str, Any] = {}
    for path in LOCKED:
        section, _, key = path.partition(".")
        found = config.get(section)
        out[path] = found if not key else found.get(key) if isinstance(found, dict) else None
    data = dict(out["data"]) if isinstance(out["data"], dict) else {}  # a damaged section hashes apart: refused
    for path in UNLOCKED_INSIDE:
        data.pop(path.partition(".")[2], None)
    out["data"] = data
    return out


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the locked part of a resolved config (canonical JSON)."""
    return hashlib.sha256(json.dumps(locked_view(config), sort_keys=True).encode()).hexdigest()


_ABSENT = object()


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Lines ``path: old -> new`` for every leaf that differs between two plain configs."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in list(old) + [k for k in new if k not in old]:
            path = f"{prefix}.{key}" if prefix else str(key)
            lines += config_diff(old.get(key, _ABSENT), new.get(key, _ABSENT), path)
        return lines
    return [] if old == new else [f"{prefix}: {_short(old)} -> {_short(new)}"]


def _short(value: Any) -> str:
    text = "(absent)" if value is _ABSENT else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def versions() -> dict[str, str]:
    """The library versions a checkpoint records."""
    import safetensors

    return {"lamina": lamina.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


# ---------------------------------------------------------------- state.json schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


Count = Annotated[int, Field(ge=0, le=2**53)]
Word32 = Annotated[int, Field(ge=0, lt=2**32)]
# An epoch's logged value: an int stays an int (the epoch), a float may be NaN (e.g. a metric of one class).
Logged = int | Annotated[float, Field(allow_inf_nan=True)]


class NumpyRng(_Strict):
    keys: list[Word32] = Field(min_length=624, max_length=624)
    pos: int = Field(ge=0, le=624)
    has_gauss: int = Field(ge=0, le=1)
    cached_gaussian: float


PythonRng = Annotated[tuple[Literal[3], Annotated[list[Word32], Field(min_length=625, max_length=625)], float | None],
                      Field(strict=False)]  # JSON has lists, not tuples


class Rng(_Strict):
    python: PythonRng
    numpy: NumpyRng


class OptimizerLayout(_Strict):
    param_groups: list[dict[str, Any]]  # checked against the optimizer's own (see _same_structure)
    state: dict[str, dict[str, bool | int | float | None]]


class Meta(_Strict):
    """state.json, validated field by field: a damaged, edited or foreign file is refused before anything uses it."""

    format: Literal["lamina-checkpoint-2"]
    epoch: Count
    batch: Count
    step: Count
    config: dict[str, Any]  # its locked part must match config_hash (the rest only informs the notes)
    config_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    versions: dict[str, Annotated[str, Field(max_length=100)]]
    optimizer: OptimizerLayout
    scheduler: dict[str, Any] | None  # checked against the schedule's own
    scaler: dict[str, Any]  # checked against the grad scaler's own
    rng: Rng
    history: list[dict[str, Logged]]
    batch_sizes: list[Annotated[int, Field(ge=1, le=2**31)]]
    callbacks: dict[str, dict[str, Any]]  # each callback checks its own in load_state_dict

    @model_validator(mode="after")
    def _consistent(self) -> Meta:
        """The config and its hash, the position, the epoch logs and the current epoch's batch sizes agree."""
        if config_hash(self.config) != self.config_hash:
            raise ValueError("config_hash is not the hash of the saved config")
        if len(self.batch_sizes) != self.batch:
            raise ValueError(f"batch_sizes has {len(self.batch_sizes)} entries; batch {self.batch} needs as many")
        if len(self.history) != self.epoch:
            raise ValueError(f"history has {len(self.history)} epochs; epoch {self.epoch} needs as many")
        for i, logs in enumerate(self.history):
            if logs.get("epoch") != i + 1 or not set(self.history[0]) <= set(logs):
                raise ValueError(f"history[{i}] must have epoch {i + 1} and at least the fields of history[0] "
                                 f"({', '.join(self.history[0])}); got {', '.join(logs)}")
            if not logs.get("lr", 0) >= 0:
                raise ValueError(f"history[{i}].lr must be at least 0; got {logs['lr']}")
        if self.step < self.epoch:
            raise ValueError(f"step {self.step} is fewer than the {self.epoch} epochs done")
        return self


# ---------------------------------------------------------------- saving


def callback_keys(callbacks: list[Callback]) -> list[str]:
    """Stable names for callbacks' saved state: the class name, numbered when a class repeats."""
    keys, seen = [], {}
    for cb in callbacks:
        name = type(cb).__name__
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return keys


def encode_state(state: State, epoch: int, batch: int, batches_rng: torch.Tensor | None,
                 config: dict[str, Any]) -> dict[str, bytes]:
    """The bytes of each checkpoint file for ``state`` at position (``epoch``, ``batch``)."""
    optim_tensors, layout = _flatten_optimizer(state.optimizer.state_dict())
    tensors = {"rng.torch": torch.get_rng_state()}
    if batches_rng is not None:
        tensors["rng.batches"] = batches_rng
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    for key, cb in zip(callback_keys(state.callbacks), state.callbacks):
        for name, generator in cb.generators().items():
            tensors[f"rng.callback.{key}.{name}"] = generator.get_state()
        for name, tensor in cb.tensors().items():
            tensors[f"callback.{key}.{name}"] = tensor.detach().cpu().contiguous()
    tensors["losses.done"] = torch.cat(state.loss_log) if state.loss_log else torch.zeros(0)
    tensors["losses.epoch"] = torch.stack(state.batch_losses).float() if state.batch_losses else torch.zeros(0)
    version, internal, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    meta = {
        "format": FORMAT, "epoch": epoch, "batch": batch, "step": state.step,
        "config": config, "config_hash": config_hash(config), "versions": versions(),
        "optimizer": layout,
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "scaler": state.scaler.state_dict() if state.scaler is not None else {},
        "rng": {"python": [version, list(internal), gauss],
                "numpy": {"keys": keys.tolist(), "pos": pos, "has_gauss": has_gauss, "cached_gaussian": cached}},
        "history": state.history,
        "batch_sizes": state.batch_sizes,
        "callbacks": {key: cb.state_dict() for key, cb in zip(callback_keys(state.callbacks), state.callbacks)
                      if cb.state_dict()},
    }
    return {"model.safetensors": encode_tensors(untied(state.model.state_dict())),
            "optimizer.safetensors": encode_tensors(optim_tensors),
            "state.safetensors": encode_tensors(tensors),
            "state.json": encode_json(meta, indent=None)}  # machine-read, written every epoch: one line


def untied(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weights`` with each tied tensor (a language model's embedding and output layer) copied: safetensors
    refuses one storage under two names, and loading writes the same values into it twice."""
    seen: set[int] = set()
    out = {}
    for name, tensor in weights.items():
        storage = tensor.untyped_storage().data_ptr()
        out[name] = tensor.clone() if storage in seen else tensor
        seen.add(storage)
    return out


def write_checkpoint(folder: Path, files: dict[str, bytes]) -> None:
    """Write the files one by one (each atomically), then the manifest that vouches for them.

    Each file is fsynced before its rename; the folder and its parent are fsynced once, at
    the end, instead of after every rename. A crash before that leaves a folder whose
    manifest is missing or names a missing file, which loading refuses; the older
    checkpoints are pruned only after this returns.
    """
    try:
        if folder.exists():
            shutil.rmtree(folder)  # what an interrupted save of this same step left
        folder.mkdir(parents=True)
        digests = {}
        for name, data in files.items():
            atomic_write_bytes(folder / name, data, sync_folder=False)
            digests[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        atomic_write_bytes(folder / MANIFEST, encode_json({"format": FORMAT, "files": digests}), sync_folder=False)
        fsync_dir(folder)
        fsync_dir(folder.parent)
    except OSError as exc:
        raise RunFolderError(f"could not write checkpoint {folder}: {exc.strerror or exc}; "
                             "the previous checkpoint is kept") from None


def prune(root: Path, keep: int, protect: set[str]) -> None:
    """Remove all but the ``keep`` newest complete checkpoints (and those in ``protect``)."""
    complete = [p for p in step_folders(root) if (p / MANIFEST).is_file()]
    kept = {p.name for p in complete[:keep]} | protect
    for path in step_folders(root):
        if path.name not in kept:
            (path / MANIFEST).unlink(missing_ok=True)  # first, so a half-removed folder is plainly incomplete
            shutil.rmtree(path, ignore_errors=True)


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    layout: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for pid, entries in state["state"].items():
        plain = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                plain[key] = value
        layout["state"][str(pid)] = plain
    return tensors, layout


# ---------------------------------------------------------------- loading


@dataclass
class Checkpoint:
    """A verified checkpoint: its folder, its JSON state and its tensors."""

    folder: Path
    meta: Meta
    model: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    tensors: dict[str, torch.Tensor]

    def restore(self, state: State) -> None:
        """Put the saved weights, optimizer, schedule, scaler, RNGs, position, logs and callback states in place.

        Anything that does not fit the current model, optimizer or callbacks is a
        RunFolderError naming this checkpoint, raised before training goes on.
        """
        try:
            self._restore(state)
        except RESTORE_ERRORS as exc:
            reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise RunFolderError(f"checkpoint {self.folder} does not fit this run: {reason}") from None

    def _restore(self, state: State) -> None:
        m = self.meta
        _load_weights(state.model, self.model, self.folder / "model.safetensors")
        state.optimizer.load_state_dict(_optimizer_state(state.optimizer, m.optimizer, self.optimizer))
        if (state.scheduler is None) != (m.scheduler is None):
            raise ValueError("the checkpoint's learning-rate schedule does not match the config's")
        if state.scheduler is not None:
            _same_structure(state.scheduler.state_dict(), m.scheduler, "scheduler")
            state.scheduler.load_state_dict(dict(m.scheduler))
        _same_structure(state.scaler.state_dict(), m.scaler, "scaler")
        if m.scaler:
            state.scaler.load_state_dict(dict(m.scaler))
        if m.batch > state.steps_per_epoch or len(m.batch_sizes) != m.batch:
            raise ValueError(f"position batch {m.batch} does not fit an epoch of {state.steps_per_epoch} batches")
        done, partial = self.tensors.get("losses.done"), self.tensors.get("losses.epoch")
        if done is None or partial is None or done.dim() not in (1, 2) or partial.dim() not in (1, 2):  # 2: a GAN's
            raise ValueError("the per-batch losses are missing")
        if len(done) != m.epoch * state.steps_per_epoch:
            raise ValueError(f"{len(done)} batch losses do not fit {m.epoch} finished epochs")
        if len(partial) != m.batch:
            raise ValueError(f"{len(partial)} losses for the current epoch; {m.batch} batches are done")
        torch.set_rng_state(self.tensors["rng.torch"])
        cuda = [self.tensors[k] for k in sorted(self.tensors) if k.startswith("rng.cuda.")]
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        version, internal, gauss = m.rng.python
        random.setstate((version, tuple(internal), gauss))
        n = m.rng.numpy
        np.random.set_state(("MT19937", np.array(n.keys, dtype=np.uint32), n.pos, n.has_gauss, n.cached_gaussian))
        state.batches.resume(self.tensors.get("rng.batches"), m.batch)
        for cb, key in zip(state.callbacks, callback_keys(state.callbacks)):
            if key in m.callbacks:
                cb.load_state_dict(m.callbacks[key])
            prefix = f"callback.{key}."
            cb.load_tensors({name[len(prefix):]: t for name, t in self.tensors.items() if name.startswith(prefix)})
            for name, generator in cb.generators().items():  # restored, not re-seeded: the draws go on
                saved = self.tensors.get(f"rng.callback.{key}.{name}")
                if saved is not None:
                    generator.set_state(saved)
        state.epoch, state.batch, state.step = m.epoch, m.batch, m.step
        state.history = [dict(h) for h in m.history]
        state.logs = dict(state.history[-1]) if state.history else {}
        state.loss_log = list(done.float().split(state.steps_per_epoch)) if len(done) else []
        state.batch_losses = list(partial.float().to(state.device).unbind())
        state.batch_sizes = list(m.batch_sizes)


def load_checkpoint(folder: Path) -> Checkpoint:
    """Read and verify a checkpoint folder; a missing, truncated, altered or foreign file is refused by name."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise RunFolderError(f"{manifest_path} is missing: the checkpoint is incomplete (its save was interrupted)")
    manifest = decode_json(manifest_path.read_bytes(), manifest_path)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(files, dict) \
            or sorted(files) != sorted(FILES):
        raise RunFolderError(f"{manifest_path} is not a {FORMAT} manifest")
    contents = {}
    for name in FILES:
        path, entry = folder / name, files[name]
        if not path.is_file():
            raise RunFolderError(f"{path} is missing")
        data = path.read_bytes()
        if not isinstance(entry, dict) or len(data) != entry.get("bytes"):
            raise RunFolderError(f"{path} has {len(data)} bytes; the manifest says {_get(entry, 'bytes')} "
                                 "(truncated or replaced)")
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise RunFolderError(f"{path} does not match its checksum in the manifest (the file is damaged)")
        contents[name] = data
    raw = decode_json(contents["state.json"], folder / "state.json")
    try:
        meta = Meta.model_validate(raw)
    except ValidationError as exc:
        raise RunFolderError(f"{folder / 'state.json'}: {first_problem(exc)}") from None
    tensors = {name: decode_tensors(contents[name], folder / name) for name in FILES if name.endswith(".safetensors")}
    if "rng.torch" not in tensors["state.safetensors"]:
        raise RunFolderError(f"{folder / 'state.safetensors'} holds no RNG state")
    return Checkpoint(folder, meta, tensors["model.safetensors"], tensors["optimizer.safetensors"],
                      tensors["state.safetensors"])


def _get(entry: Any, key: str) -> Any:
    return entry.get(key) if isinstance(entry, dict) else None


def newest_checkpoint(root: Path) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint under ``root`` that verifies, and why each newer one was refused."""
    refused = []
    for folder in step_folders(Path(root)):
        try:
            return load_checkpoint(folder), refused
        except RunFolderError as exc:
            refused.append(str(exc))
    return None, refused


def load_best_weights(root: Path) -> dict[str, torch.Tensor]:
    """The weights of the checkpoint that ``best.json`` names, verified."""
    pointer = read_json(Path(root) / BEST)
    name = pointer.get("folder") if isinstance(pointer, dict) else None
    if not isinstance(name, str) or not STEP_FOLDER.match(name):
        raise RunFolderError(f"{Path(root) / BEST} does not name a checkpoint folder")
    return load_checkpoint(Path(root) / name).model


def _load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    if set(expected) != set(weights):
        missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
        raise ValueError(f"{path} does not match the model: " + (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"))
    for key, tensor in expected.items():
        if weights[key].shape != tensor.shape or weights[key].dtype != tensor.dtype:
            raise ValueError(f"{path}: '{key}' is {weights[key].dtype} {tuple(weights[key].shape)}; "
                             f"the model needs {tensor.dtype} {tuple(tensor.shape)}")
    model.load_state_dict(weights)


def _optimizer_state(optimizer: torch.optim.Optimizer, layout: OptimizerLayout,
                     tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Rebuild an optimizer state dict from its JSON layout and tensors, checked against ``optimizer``."""
    fresh = optimizer.state_dict()["param_groups"]
    _same_structure(fresh, layout.param_groups, "optimizer param_groups")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, (mine, theirs) in enumerate(zip(fresh, layout.param_groups)):
        if mine["params"] != theirs["params"]:
            raise ValueError("the optimizer's parameter groups differ from the checkpoint's")
        for key, value in mine.items():  # switches (amsgrad, nesterov...) come from the config, never from training
            if (value is None or isinstance(value, (bool, str))) and theirs[key] != value:
                raise ValueError(f"optimizer param_groups[{i}].{key} is {theirs[key]!r:.40}; the config makes {value!r}")
    state: dict[int, dict[str, Any]] = {int(pid): dict(entries) for pid, entries in layout.state.items()
                                        if pid.isdigit()}
    if len(state) != len(layout.state) or any(pid >= len(params) for pid in state):
        raise ValueError("the optimizer state names parameters the model does not have")
    for name, tensor in tensors.items():
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "optim" or not parts[1].isdigit() or int(parts[1]) not in state:
            raise ValueError(f"unexpected optimizer tensor '{name}'")
        pid = int(parts[1])
        if tensor.dim() and tensor.shape != params[pid].shape:
            raise ValueError(f"optimizer tensor '{name}' has shape {tuple(tensor.shape)}; "
                             f"its parameter has {tuple(params[pid].shape)}")
        state[pid][parts[2]] = tensor
    if len({frozenset(entries) for entries in state.values()}) > 1:
        raise ValueError("the optimizer state's entries do not all have the same fields")
    return {"state": state, "param_groups": [dict(g) for g in layout.param_groups]}


def _same_structure(fresh: Any, loaded: Any, where: str) -> None:
    """Check that ``loaded`` has the keys, lengths and value kinds of ``fresh`` (a freshly made state)."""
    if isinstance(fresh, dict):
        if not isinstance(loaded, dict) or set(map(str, fresh)) != set(map(str, loaded)):
            raise ValueError(f"{where} has fields {sorted(map(str, loaded)) if isinstance(loaded, dict) else loaded!r}; "
                             f"expected {sorted(map(str, fresh))}")
        for key, value in fresh.items():
            _same_structure(value, loaded[key], f"{where}.{key}")
    elif isinstance(fresh, (list, tuple)):
        if not isinstance(loaded, (list, tuple)) or len(loaded) != len(fresh):
            raise ValueError(f"{where} must be a list of {len(fresh)}; got {loaded!r:.80}")
        for i, (a, b) in enumerate(zip(fresh, loaded)):
            _same_structure(a, b, f"{where}[{i}]")
    elif isinstance(fresh, bool) or fresh is None or isinstance(fresh, str):
        if type(loaded) is not type(fresh):
            raise ValueError(f"{where} must be {type(fresh).__name__}; got {loaded!r:.80}")
    elif isinstance(fresh, (int, float)):
        if isinstance(loaded, bool) or not isinstance(loaded, (int, float)):
            raise ValueError(f"{where} must be a number; got {loaded!r:.80}")
        if isinstance(fresh, int) and not isinstance(loaded, int):
            raise ValueError(f"{where} must be an integer; got {loaded!r:.80}")
        if math.isfinite(fresh) and not (math.isfinite(loaded) and abs(loaded) <= 2**53):
            raise ValueError(f"{where} must be a finite number of at most 2**53; got {loaded!r:.80}")
        if math.isfinite(fresh) and fresh >= 0 > loaded:
            raise ValueError(f"{where} must be at least 0; got {loaded!r:.80}")


# ---------------------------------------------------------------- resuming


def resume_point(root: Path, config: dict[str, Any]) -> tuple[Checkpoint | None, list[str]]:
    """The checkpoint to resume from (None: there is none) and notes for the user.

    Checkpoints newer than the one chosen failed verification and are removed.
    A change to a locked config field (model, optimizer, data, ...) is refused
    with the difference; any other change is allowed and reported.
    """
    checkpoint, refused = newest_checkpoint(root)
    notes = [f"refused {reason}" for reason in refused]
    for folder in step_folders(root)[: len(refused)]:  # newer than the one chosen, and damaged
        shutil.rmtree(folder, ignore_errors=True)
    if checkpoint is None:
        return None, notes
    saved = checkpoint.meta.config
    if config_hash(config) != checkpoint.meta.config_hash:
        changed = config_diff(locked_view(saved), locked_view(config))
        raise ConfigError(
            f"cannot resume from {checkpoint.folder}: the model, optimizer, data and batching must stay as "
            "they were (" + ", ".join(LOCKED) + "); changed:\n  " + "\n  ".join(changed or ["(the config's locked part)"])
            + "\nStart a new run instead (without --resume)."
        )
    other = config_diff(saved, config)
    if other:
        notes.append("resuming with changed settings: " + "; ".join(other))
    if checkpoint.meta.versions != versions():
        notes.append("the checkpoint was written with " + ", ".join(
            f"{k} {v}" for k, v in checkpoint.meta.versions.items() if versions().get(k) != v)
            + "; results may differ slightly from an uninterrupted run")
    notes.append(f"resuming from {checkpoint.folder.name} (epoch {checkpoint.meta.epoch + 1}, "
                 f"batch {checkpoint.meta.batch}, step {checkpoint.meta.step})")
    return checkpoint, notes


class CheckpointsState(_Strict):
    best: float | None
    best_epoch: Count
    best_folder: str | None = Field(pattern=STEP_FOLDER.pattern)


class Checkpoints(Callback):
    """Save checkpoints at epoch ends (by time) and, as configured, every N steps and/or M seconds.

    An epoch's end is written when ``epoch_seconds`` have passed since the last
    save, at the last epoch, and when its files exceed ``HOLD_BYTES`` (a large
    model's); the others are encoded and held in memory until the next save or
    the end of training, whatever ends it (an early stop, an error, an
    interrupt): then the newest epoch's end and the best epoch's are written.
    So a short run does not spend its time on disk syncs, and a long one loses
    at most ``epoch_seconds`` plus an epoch to a crash. ``best.json`` names the
    checkpoint of the epoch with the best monitored value; that folder is kept
    besides the ``keep`` newest ones. Mid-epoch checkpoints fall only where an
    optimizer step ends (never inside an accumulation group), so a resume
    needs no partial gradients.
    """

    def __init__(self, root: Path, spec: CheckpointSpec, monitor: str, mode: str, config: dict[str, Any]) -> None:
        self.root, self.spec, self.monitor, self.mode, self.config = Path(root), spec, monitor, mode, config
        self.best: float | None = None
        self.best_epoch = 0
        self.best_folder: str | None = None
        self.saved_at = time.monotonic()
        self.unsaved: dict[str, tuple[str, dict[str, bytes]]] = {}  # 'last' and 'best': (folder, files)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_folder": self.best_folder}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        kept = validate_state(CheckpointsState, saved, "Checkpoints")
        self.best, self.best_epoch, self.best_folder = kept.best, kept.best_epoch, kept.best_folder

    def on_train_start(self, state: State) -> None:
        self.saved_at = time.monotonic()
        if self.best_folder is not None:  # resumed: best.json may name a newer checkpoint that was refused
            self._point_best()

    def on_batch_end(self, state: State) -> None:
        if not state.at_update or state.batch == state.steps_per_epoch:  # the epoch's end is handled there
            return
        every, seconds = self.spec.every_steps, self.spec.every_seconds
        if (every and state.step % every == 0) or (seconds and time.monotonic() - self.saved_at >= seconds):
            self.save(state, state.epoch, state.batch, state.batches.epoch_rng)

    def on_epoch_end(self, state: State) -> None:
        better = improved(state.logs[self.monitor], self.best, self.mode)
        if better:
            self.best, self.best_epoch = state.logs[self.monitor], state.logs["epoch"]
            self.best_folder = folder_name(state.step)
            self.unsaved.pop("best", None)  # no longer the best: never written
        generator = state.batches.generator
        files = encode_state(state, state.epoch + 1, 0, generator.get_state() if generator is not None else None,
                             self.config)
        if state.epoch + 1 == state.epochs or time.monotonic() - self.saved_at >= self.spec.epoch_seconds \
                or sum(map(len, files.values())) > HOLD_BYTES:
            self._write(folder_name(state.step), files)
            return
        self.unsaved["last"] = (folder_name(state.step), files)
        if better:
            self.unsaved["best"] = self.unsaved["last"]

    def on_train_end(self, state: State) -> None:
        """Write the epoch ends held in memory (the newest and the best), however training ended."""
        if "last" in self.unsaved:
            self._write(*self.unsaved["last"])

    def save(self, state: State, epoch: int, batch: int, batches_rng: torch.Tensor | None) -> None:
        """Write the checkpoint of this step (after the best epoch's, when only memory holds it), then prune."""
        self._write(folder_name(state.step), encode_state(state, epoch, batch, batches_rng, self.config))

    def _write(self, name: str, files: dict[str, bytes]) -> None:
        best = self.unsaved.pop("best", None)
        self.unsaved.pop("last", None)  # older than this save, or this save itself
        if best is not None and best[0] != name:
            write_checkpoint(self.root / best[0], best[1])
        write_checkpoint(self.root / name, files)
        if best is not None or self.best_folder == name:
            self._point_best()
        prune(self.root, self.spec.keep, {self.best_folder} if self.best_folder else set())
        self.saved_at = time.monotonic()

    def newest(self) -> Path | None:
        """The newest complete checkpoint folder (None before the first save)."""
        return next((p for p in step_folders(self.root) if (p / MANIFEST).is_file()), None)

    def _point_best(self) -> None:
        try:
            write_json(self.root / BEST, {"folder": self.best_folder, "epoch": self.best_epoch,
                                          "monitor": self.monitor, "value": self.best})
        except OSError as exc:
            raise RunFolderError(f"could not write {self.root / BEST}: {exc.strerror or exc}") from None
