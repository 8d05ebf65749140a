"""Nothing lamina loads can run code: no unpickling anywhere (an AST scan), and pickle payloads refused.

The scan reads every Python file lamina ships or runs (src/, examples/,
benchmarks/) and fails on ``pickle.load(s)`` (and its relatives),
``torch.load`` without ``weights_only=True``, ``yaml.load`` and the other
unsafe YAML loaders, ``numpy.load(..., allow_pickle=True)``, ``eval`` and
``exec``. The payload tests put a pickle whose ``__reduce__`` creates a
sentinel file under the name of each file lamina loads, and check that the
load is refused with lamina's error and that the sentinel never appears.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import lamina
from lamina.config import load_config
from lamina.data.readers import read_npz
from lamina.errors import LaminaError
from lamina.train.checkpoint import FILES, MANIFEST, load_best_weights, load_checkpoint, step_folders

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("src", "examples", "benchmarks")
UNPICKLERS = {f"{module}.{name}" for module in ("pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib")
              for name in ("load", "loads", "Unpickler")} | {"marshal.load", "marshal.loads", "shelve.open",
                                                             "pandas.read_pickle", "numpy.lib.format.read_array"}
UNSAFE_YAML = {"yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load",
               "yaml.full_load_all", "yaml.Loader", "yaml.UnsafeLoader", "yaml.FullLoader"}


def unsafe_calls(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: call`` for every unsafe deserialisation or code execution in ``source``."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def dotted(expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name):
            return aliases.get(expr.id, expr.id)
        if isinstance(expr, ast.Attribute):
            base = dotted(expr.value)
            return f"{base}.{expr.attr}" if base else None
        return None

    def keyword_is(call: ast.Call, name: str, value: object) -> bool:
        return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value for k in call.keywords)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and dotted(node) in UNSAFE_YAML - {"yaml.load", "yaml.load_all"}:
            found.append((node.lineno, node.col_offset, dotted(node)))
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        bare = isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec") and node.func.id not in aliases
        if bare or name in ("builtins.eval", "builtins.exec") or name in UNPICKLERS or name in UNSAFE_YAML:
            found.append((node.lineno, node.col_offset, name))
        elif name == "torch.load" and not keyword_is(node, "weights_only", True):
            found.append((node.lineno, node.col_offset, "torch.load without weights_only=True"))
        elif name == "numpy.load" and keyword_is(node, "allow_pickle", True):
            found.append((node.lineno, node.col_offset, "numpy.load with allow_pickle=True"))
    return [f"{filename}:{line}: {what}" for line, _, what in sorted(set(found))]


def test_the_scanner_catches_each_unsafe_form() -> None:
    bad = """
import pickle, yaml, torch, marshal
import numpy as np
import pickle as p
from pickle import loads
from yaml import unsafe_load
pickle.load(f); p.loads(b); loads(b); pickle.Unpickler(f).load(); marshal.loads(b)
torch.load("w.pt"); torch.load("w.pt", weights_only=False)
yaml.load(text); yaml.load(text, Loader=yaml.SafeLoader); yaml.full_load(text); unsafe_load(text)
np.load("a.npz", allow_pickle=True)
eval("1"); exec("x = 1")
"""
    found = unsafe_calls(bad)
    for expected in (":7: pickle.load", ":7: pickle.loads", ":7: pickle.Unpickler", ":7: marshal.loads",
                     ":8: torch.load without", ":9: yaml.load", ":9: yaml.full_load", ":9: yaml.unsafe_load",
                     ":10: numpy.load with allow_pickle=True", ":11: eval", ":11: exec"):
        assert any(expected in line for line in found), (expected, found)
    assert len([line for line in found if ":8:" in line]) == 2 and len([line for line in found if ":7:" in line]) == 5
    good = """
import torch, yaml, numpy as np
model.eval(); torch.load("w.pt", weights_only=True); yaml.safe_load(text); np.load("a.npz", allow_pickle=False)
pickle_free = json.loads(text)
"""
    assert unsafe_calls(good) == []


def test_no_code_path_deserializes_with_pickle_or_runs_code() -> None:
    files = [p for folder in SCANNED for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 30 and any(p.name == "checkpoint.py" for p in files)
    found = [line for p in files for line in unsafe_calls(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert found == []


# ---------------------------------------------------------------- pickle payloads


class Payload:
    """Unpickling this creates the sentinel file (``open(path, 'w')``)."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (open, (str(self.sentinel), "w"))


def payloads(sentinel: Path) -> dict[str, bytes]:
    """The same payload as raw pickles (text protocol 0 and binary protocol 5) and as a torch.save archive."""
    archive = io.BytesIO()
    torch.save({"weight": Payload(sentinel)}, archive)
    return {"pickle0": pickle.dumps(Payload(sentinel), protocol=0), "pickle5": pickle.dumps(Payload(sentinel), protocol=5),
            "torch.save": archive.getvalue()}


def test_the_payload_is_live(tmp_path: Path) -> None:
    """Control: unpickling these bytes does create the sentinel, so the refusals below mean something."""
    for kind, data in payloads(tmp_path / "made").items():
        if kind != "torch.save":
            pickle.loads(data)
            assert (tmp_path / "made").exists()
            (tmp_path / "made").unlink()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder and, inside it, a mid-run checkpoint."""
    runs = tmp_path_factory.mktemp("payload")
    raw = {"name": "p", "runs_dir": str(runs), "data": {"dataset": "iris"}, "model": {"arch": "mlp", "hidden": [4]},
           "train": {"epochs": 1, "batch_size": 32, "tensorboard": False}}
    return lamina.fit(raw, progress="none").folder.root


def _loaders(root: Path, checkpoint: Path) -> dict[str, tuple[Path, object]]:
    """Each file lamina loads, and the call that loads it."""
    run_files = {name: (root / name, lambda: lamina.load_run(root)) for name in ("model.safetensors", "config.yaml",
                                                                                  "preprocess.json")}
    ckpt_files = {f"checkpoint {name}": (checkpoint / name, lambda: load_checkpoint(checkpoint))
                  for name in FILES + (MANIFEST,)}
    ckpt_files["checkpoints/best.json"] = (root / "checkpoints" / "best.json",
                                           lambda: load_best_weights(root / "checkpoints"))
    config = root.parent / "config.yaml"
    return {**run_files, **ckpt_files, "a config for lamina train": (config, lambda: load_config(config)),
            "an NPZ for lamina predict": (root.parent / "inputs.npz", lambda: read_npz(root.parent / "inputs.npz", ("x",)))}


@pytest.mark.parametrize("resign", [False, True], ids=["as-is", "manifest-vouching-for-it"])
def test_pickle_payloads_named_like_lamina_files_are_refused_without_running(trained: Path, tmp_path: Path,
                                                                            resign: bool) -> None:
    sentinel = tmp_path / "SENTINEL"
    tried = 0
    for kind, data in payloads(sentinel).items():
        root = tmp_path / kind / "run"
        shutil.copytree(trained, root)
        checkpoint = step_folders(root / "checkpoints")[0]
        for label, (path, load) in _loaders(root, checkpoint).items():
            original = path.read_bytes() if path.exists() else None
            path.write_bytes(data)
            if resign and path.parent == checkpoint and path.name != MANIFEST:
                manifest = json.loads((checkpoint / MANIFEST).read_text())
                manifest["files"][path.name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                (checkpoint / MANIFEST).write_text(json.dumps(manifest))
            with pytest.raises(LaminaError) as caught:
                load()
            assert path.name in str(caught.value), (kind, label, str(caught.value))
            assert not sentinel.exists(), (kind, label)
            tried += 1
            if original is not None:
                path.write_bytes(original)
            shutil.copytree(trained / "checkpoints" / checkpoint.name, checkpoint, dirs_exist_ok=True)
    assert tried == 3 * 11


def test_an_npz_holding_pickled_objects_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "inputs.npz"
    np.savez(path, x=np.array([Payload(sentinel)], dtype=object))
    with pytest.raises(LaminaError, match="inputs.npz is not a readable NPZ file"):
        read_npz(path, ("x",))
    assert not sentinel.exists()


def test_yaml_tags_that_would_build_objects_are_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "config.yaml"
    path.write_text(f"data: !!python/object/apply:builtins.open ['{sentinel}', 'w']\nmodel: {{arch: mlp}}\n")
    with pytest.raises(LaminaError, match="config.yaml is not valid YAML"):
        load_config(path)
    assert not sentinel.exists()
