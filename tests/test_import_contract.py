"""The import contract of DESIGN.md, read from the source with an AST walk (static imports, function-level included).

Folders and modules of ``src/lamina`` fall in three kinds:

- **feature folders** (``FEATURES``): diagnose, explain, robust, continual, transfer, generative, lm, compress,
  tune, export, serve (DESIGN.md's "diagnose ... serve") and segment (the U-Net feature). A feature folder
  may import the shared core and itself, never another feature folder, so each can be read alone.
- **composers** (``COMPOSERS``): ``cli.py`` (and ``__main__``), ``labs/`` and the public ``__init__`` may
  import any feature: they are where features are put together.
- **shared core** (everything else): config, registry, errors, files, device, data, nn, train, evaluate,
  report, runs, trainer, demo, sklearn (the scikit-learn estimators over the trainer). The core imports no feature folder at all: ``trainer.py`` finds feature
  callbacks through ``lamina.train.hooks`` (a registry keyed by spec section, whose entry list of modules,
  ``lamina.registry.HOOK_MODULES``, is a list of names and not an import this walk follows).

Also: prediction (``runs.py``) never reaches training code (``lamina.train``, ``lamina.trainer``), directly or
through the modules it imports, and nothing but ``__main__`` imports ``cli.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lamina"
FEATURES = {"diagnose", "explain", "robust", "continual", "transfer", "generative", "lm", "compress", "tune",
            "export", "serve", "segment"}
COMPOSERS = {"cli", "__main__", "__init__", "labs"}
CORE = {"config", "registry", "errors", "files", "device", "data", "nn", "train", "evaluate", "report", "runs",
        "trainer", "demo", "example_files", "inherit", "sklearn"}
TRAINING = ("lamina.train", "lamina.trainer")


def module_name(path: Path, root: Path) -> str:
    """``lamina.a.b`` for ``root/a/b.py`` (or ``root/a/b/__init__.py``)."""
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("lamina", *parts))


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package at ``root`` -> the lamina modules it imports anywhere in its body."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in files)
        graph[name] = {t for t in targets if t == "lamina" or t.startswith("lamina.")}
    return graph


def top(module: str) -> str:
    """The folder or top-level module a lamina module belongs to (``lamina.robust.fgsm`` -> ``robust``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def feature_violations(root: Path) -> list[str]:
    """``importer -> imported`` for every import of a feature folder from outside it, composers excepted."""
    found = []
    for importer, targets in sorted(import_graph(root).items()):
        if top(importer) in COMPOSERS:
            continue
        found += [f"{importer} -> {t}" for t in sorted(targets) if top(t) in FEATURES and top(t) != top(importer)]
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules ``start`` imports directly or through others (parent packages included, as Python runs them)."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for name in [".".join(parts[:i]) for i in range(2, len(parts))] + [module]:
            if name not in seen:
                seen.add(name)
                todo += sorted(graph.get(name, set()))
    return seen


def test_every_folder_is_classified() -> None:
    """A new folder or top-level module must be declared feature, composer or core before it can be checked."""
    present = {p.stem if p.is_file() else p.name for p in SRC.iterdir() if p.suffix == ".py" or
               (p.is_dir() and (p / "__init__.py").is_file())}
    assert present - FEATURES - COMPOSERS - CORE == set()
    assert (FEATURES | COMPOSERS | CORE) - present == set()


def test_no_feature_folder_is_imported_outside_composers() -> None:
    """Feature folders import no other feature; the core (trainer included) imports none."""
    assert feature_violations(SRC) == []


def test_prediction_does_not_reach_training_code() -> None:
    """``runs.py`` (load_run, predict) stays usable without the training loop, its callbacks or the trainer."""
    reached = reachable(import_graph(SRC), "lamina.runs")
    assert sorted(m for m in reached if m.startswith(TRAINING)) == []


def test_nothing_imports_the_cli() -> None:
    """cli.py composes everything and nothing composes it (``python -m lamina`` excepted)."""
    graph = import_graph(SRC)
    assert sorted(m for m, targets in graph.items() if "lamina.cli" in targets and m != "lamina.__main__") == []


@pytest.mark.parametrize(("importer", "line"), [
    ("robust/attacks.py", "from lamina.transfer.setup import plan_training"),  # a feature importing another
    ("trainer.py", "def f():\n    from lamina.diagnose.monitor import Monitor"),  # the core, even lazily
])
def test_the_walk_finds_a_planted_violation(tmp_path: Path, importer: str, line: str) -> None:
    """The check is not vacuous: one forbidden import in an otherwise clean tree is reported."""
    for name in ("robust/attacks.py", "transfer/setup.py", "diagnose/monitor.py", "trainer.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / importer).write_text(line + "\n")
    assert len(feature_violations(tmp_path)) == 1
