"""An edited state.json with a re-signed manifest: every mutation is refused by name or resumes cleanly.

A seeded loop changes one field of a mid-epoch checkpoint's state.json at a
time (another type, a negative, huge or non-finite number, a missing or extra
key, a list one longer or shorter), signs the file in the manifest the way
lamina does, and resumes. Only lamina's own errors (or a clean resume) may
come out; never a traceback from deep inside.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

import lamina
from lamina.errors import LaminaError
from lamina.files import encode_json
from lamina.train.callbacks import Callback
from lamina.train.checkpoint import MANIFEST, folder_name

MUTATIONS = 200
REPLACEMENTS: list[Any] = ["x", [], {}, None, True, -1, -10**9, 10**30, 1e308, float("nan"), float("inf"), 0.5, 0]


class Halted(Exception):
    """Raised once the resumed epoch has ended: the resume went through."""


class Halt(Callback):
    def on_epoch_end(self, state) -> None:
        raise Halted


def config(runs: Path) -> dict:
    return {"name": "mutated", "runs_dir": str(runs), "seed": 2, "data": {"dataset": "iris"},
            "model": {"arch": "mlp", "hidden": [8], "dropout": 0.1},
            "train": {"epochs": 2, "batch_size": 8, "tensorboard": False, "restore_best": False,
                      "optimizer": {"name": "adam", "lr": 0.02}, "schedule": {"name": "cosine"},
                      "early_stopping": {"patience": 100}, "epoch_metrics": ["accuracy"],
                      "checkpoint": {"every_steps": 4, "epoch_seconds": 0, "keep": 3}}}


def leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every value worth mutating (a long list of numbers counts once, with its first element)."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += leaves(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node[:1] if len(node) > 8 else node):
            found += leaves(value, path + (i,))
    return found


def mutate(meta: dict, rng: random.Random) -> str:
    """Change one field of ``meta`` in place; return what was done."""
    path = rng.choice(leaves(meta))
    parent = meta
    for key in path[:-1]:
        parent = parent[key]
    key, kind = path[-1], rng.choice(["replace", "replace", "replace", "delete", "extra", "longer", "shorter"])
    value = parent[key]
    if kind == "delete" and isinstance(parent, dict):
        del parent[key]
    elif kind == "extra" and isinstance(value, dict):
        value["unexpected"] = 1
    elif kind == "longer" and isinstance(value, list):
        value.append(value[-1] if value else 0)
    elif kind == "shorter" and isinstance(value, list) and value:
        value.pop()
    else:
        kind, parent[key] = "replace", rng.choice(REPLACEMENTS)
        return f"{'.'.join(map(str, path))} = {parent[key]!r}"
    return f"{kind} {'.'.join(map(str, path))}"


def resign(folder: Path) -> None:
    """Write the manifest as lamina signs it: each file's size and SHA-256."""
    manifest = json.loads((folder / MANIFEST).read_text())
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (folder / MANIFEST).write_bytes(encode_json(manifest))


@pytest.mark.slow
def test_mutated_state_json_gives_lamina_errors_or_a_clean_resume(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    lamina.fit(config(pristine), progress="none")
    lamina.wait_for_reports()  # the figures are drawn beside the run folder in the background: done before copying
    run = pristine / "mutated"
    (run / "summary.json").unlink()
    shutil.rmtree(run / "checkpoints" / folder_name(28))  # the newest is now mid-epoch (epoch 2, batch 10)
    rng, outcomes, failures = random.Random(0), {"refused": 0, "used": 0}, []
    for i in range(MUTATIONS):
        runs = tmp_path / f"m{i}"
        shutil.copytree(pristine, runs)
        target = runs / "mutated" / "checkpoints" / folder_name(24)
        meta = json.loads((target / "state.json").read_text())
        what = mutate(meta, rng)
        mutated = encode_json(meta, indent=None)
        (target / "state.json").write_bytes(mutated)
        resign(target)
        try:
            lamina.fit(config(runs), progress="none", resume=True, extra_callbacks=[Halt()])
        except Halted:  # from the mutated checkpoint, or from the previous one when it was refused
            used = (target / "state.json").is_file() and (target / "state.json").read_bytes() == mutated
            outcomes["used" if used else "refused"] += 1  # a refused one was removed (and may be saved anew)
        except LaminaError as exc:
            outcomes["refused"] += 1
            assert "\n" not in str(exc).strip(), what
        except Exception as exc:  # noqa: BLE001 - the point of the test
            failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:150]}")
        shutil.rmtree(runs)
    print(outcomes)
    assert not failures, "\n".join(failures)
    # The rest hold values a run may have (0, None, a default), or edit the saved config's unlocked part,
    # which only feeds the resume notes. Seeded: 143 of 200 refused when this was written.
    assert outcomes["refused"] >= 0.65 * MUTATIONS, outcomes
