"""Find the labs, run one or all of them, and keep each one's result as JSON beside its figures."""

from __future__ import annotations

import importlib
import pkgutil
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from lamina.errors import ConfigError
from lamina.files import read_json, write_json
from lamina.labs.kit import LabSettings
from lamina.trainer import seed_everything

FRAMEWORK = {"catalog", "kit", "page"}
PROGRESS = ("plain", "none")


@dataclass(frozen=True)
class LabInfo:
    """A lab as listed: its name (the module's), place, title and claim."""

    name: str
    order: int
    title: str
    claim: str


@dataclass
class LabResult:
    """One finished lab: what it claimed, what it measured, the verdict, and where its files are."""

    name: str
    title: str
    claim: str
    quick: bool
    seed: int
    seconds: float
    table: list[dict[str, Any]]
    numbers: dict[str, float]
    confirmed: bool
    verdict: str
    margin: str
    figures: list[str]
    folder: Path

    def verdict_line(self) -> str:
        """The line a lab ends with: the verdict word and the measured margin."""
        return f"{self.verdict}: {self.margin}"


def _lab_modules() -> dict[str, ModuleType]:
    package = importlib.import_module("lamina.labs")
    found = {}
    for entry in pkgutil.iter_modules(package.__path__):
        if entry.name in FRAMEWORK or entry.name.startswith("_"):
            continue
        module = importlib.import_module(f"lamina.labs.{entry.name}")
        if hasattr(module, "CLAIM") and hasattr(module, "run"):
            found[entry.name] = module
    return dict(sorted(found.items(), key=lambda item: item[1].ORDER))


def list_labs() -> list[LabInfo]:
    """Every lab in its order, with its title and the one-sentence claim it tests."""
    return [LabInfo(name, module.ORDER, module.TITLE, module.CLAIM) for name, module in _lab_modules().items()]


def resolve(names: list[str]) -> list[str]:
    """Expand ``all`` and check every name, so a typo fails before any lab spends minutes running."""
    known = list(_lab_modules())
    if not names:
        raise ConfigError(f"name a lab to run, or 'all'; labs: {', '.join(known)}")
    if "all" in names:
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown lab {', '.join(map(repr, unknown))}; labs: {', '.join(known)}")
    return list(dict.fromkeys(names))


def check_options(out: Path, progress: str) -> None:
    """Refuse an unknown progress style or an ``out`` that is a file, before any lab starts."""
    if progress not in PROGRESS:
        raise ConfigError(f"progress must be one of {', '.join(PROGRESS)}; got {progress!r}")
    if Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"out {out} is a file; labs write a folder per lab there, so give a folder")


def run_lab(name: str, out: Path, quick: bool = True, seed: int = 0, progress: str = "plain") -> LabResult:
    """Run one lab into ``out/<name>/`` and save its result.json there; returns the result with its verdict."""
    module = _lab_modules()[resolve([name])[0]]
    check_options(out, progress)
    folder = Path(out) / name
    folder.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    started = time.perf_counter()
    outcome = module.run(LabSettings(out=folder, quick=quick, seed=seed, progress=progress))
    seconds = time.perf_counter() - started
    result = LabResult(name=name, title=module.TITLE, claim=module.CLAIM, quick=quick, seed=seed, seconds=seconds,
                       table=outcome.table, numbers=dict(outcome.numbers), confirmed=bool(outcome.confirmed),
                       verdict=outcome.verdict, margin=outcome.margin,
                       figures=[str(Path(p).resolve().relative_to(folder.resolve())) for p in outcome.figures],
                       folder=folder)
    record = {k: v for k, v in vars(result).items() if k != "folder"}
    write_json(folder / "result.json", record)
    return result


def load_result(folder: Path) -> LabResult:
    """Read a lab's saved result.json back (for the combined page, or to look at an earlier run)."""
    record = read_json(Path(folder) / "result.json")
    return LabResult(folder=Path(folder), **record)
