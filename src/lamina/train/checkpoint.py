"""Checkpoints: weights, optimizer and scheduler state, RNG states, epoch and step.

A checkpoint is a folder with ``model.safetensors``, ``optimizer.safetensors``
(every optimizer tensor, flattened by name) and ``state.json`` (everything
else). Each file is written atomically, and ``state.json`` last, so a folder
whose state.json is readable has complete tensors beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lamina.files import load_tensors, read_json, save_tensors, write_json

FORMAT = "lamina-checkpoint-1"


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, generator: torch.Generator | None, info: dict[str, Any]) -> None:
    """Write a full training checkpoint into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(folder / "model.safetensors", model.state_dict())
    tensors, layout = _flatten_optimizer(optimizer.state_dict())
    tensors["rng.torch"] = torch.get_rng_state()
    if generator is not None:
        tensors["rng.batches"] = generator.get_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    save_tensors(folder / "optimizer.safetensors", tensors)
    write_json(folder / "state.json", {"format": FORMAT, **info, "optimizer": layout,
                                       "scheduler": scheduler.state_dict() if scheduler is not None else None})


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The model weights saved in a checkpoint folder."""
    return load_tensors(folder / "model.safetensors")


def read_state(folder: Path) -> dict[str, Any]:
    """The JSON part of a checkpoint (epoch, step, metrics, optimizer layout)."""
    return read_json(folder / "state.json")


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
