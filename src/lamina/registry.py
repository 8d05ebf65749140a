"""One small registry type, shared by layers, presets, datasets, optimizers,
schedules, losses and metrics, so that every name a user types is resolved
the same way and fails the same way (with the valid names and a typo hint).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lamina.errors import ConfigError, one_of

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    """A registered object with a one-line description shown by ``lamina info``."""

    name: str
    obj: T
    doc: str


@dataclass
class Registry(Generic[T]):
    """A name -> object table with one ``get`` that explains unknown names."""

    kind: str
    entries: dict[str, Entry[T]] = field(default_factory=dict)
    modules: tuple[str, ...] = ()  # modules whose import registers this registry's own entries (besides the builtins)

    def add(self, name: str, obj: T, doc: str = "") -> T:
        """Register ``obj`` under ``name``; registering a taken name is a programming error."""
        if name in self.entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self.entries[name] = Entry(name, obj, doc or _first_line(obj))
        return obj

    def register(self, name: str, doc: str = "") -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(obj: T) -> T:
            return self.add(name, obj, doc)

        return decorate

    def get(self, name: str, where: str | None = None) -> T:
        """Return the object registered as ``name`` or raise a ConfigError listing valid names."""
        self.load()
        if name not in self.entries:
            raise ConfigError(one_of(where or self.kind, name, self.entries))
        return self.entries[name].obj

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self.load()
        return sorted(self.entries)

    def ordered(self) -> list[Entry[T]]:
        """All entries in the order they were registered (the order of the modules that register them)."""
        self.load()
        return list(self.entries.values())

    def load(self) -> None:
        """Import the builtins and this registry's own modules, which register its entries (once each)."""
        load_builtins()
        for module in self.modules:
            importlib.import_module(module)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self.entries

    def __iter__(self) -> Iterator[Entry[T]]:
        self.load()
        return iter(sorted(self.entries.values(), key=lambda e: e.name))


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


LAYERS: Registry[Any] = Registry("layer")
PRESETS: Registry[Any] = Registry("model.arch")
DATASETS: Registry[Any] = Registry("data.dataset")
OPTIMIZERS: Registry[Any] = Registry("train.optimizer.name")
SCHEDULES: Registry[Any] = Registry("train.schedule.name")
LOSSES: Registry[Any] = Registry("train.loss")
METRICS: Registry[Any] = Registry("metric")
INITIALIZERS: Registry[Any] = Registry("model.init")
FAMILIES: Registry[Any] = Registry("model family")  # models beside the presets: autoencoders, GAN, U-Net, GPT, reward

# Modules whose import fills the registries above. Feature folders add theirs here.
_BUILTIN_MODULES = (
    "lamina.nn.layers",
    "lamina.nn.sequence",
    "lamina.nn.attention",
    "lamina.nn.attend",
    "lamina.nn.decoder",
    "lamina.nn.patches",
    "lamina.nn.tabular",
    "lamina.nn.minilm",
    "lamina.nn.init",
    "lamina.nn.models",
    "lamina.nn.models.families",
    "lamina.data.builtin",
    "lamina.data.synthetic",
    "lamina.data.pairs",
    "lamina.train.optim",
    "lamina.train.losses",
    "lamina.evaluate.metrics",
    "lamina.evaluate.sequences",
)

# Feature modules that join training through lamina.train.hooks (the trainer imports no feature folder):
# each registers its hook when imported, and the hooks of one stage run in this order.
HOOK_MODULES = (
    "lamina.generative.hook",
    "lamina.robust.hook",
    "lamina.transfer.hook",
    "lamina.diagnose.hook",
)
# Feature modules whose run folders `lamina evaluate` scores (lamina.evaluate.run.RUN_KINDS; the supervised
# run is the core's own): each registers its run kind when imported.
EVALUATE_MODULES = (
    "lamina.generative.evaluate",
    "lamina.lm.evaluate",
    "lamina.segment.evaluate",
    "lamina.transfer.evaluate",
)
_loaded = False


def load_builtins() -> None:
    """Import the modules that register lamina's builtin entries (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def validate_step_args(args_model: type, primary: str | None, name: str, value: Any, path: str, what: str) -> Any:
    """The validated arguments of one chain step written ``{name: value}`` (layers, augmentations, ...).

    ``value`` may be absent, a mapping of arguments, or the step's main argument alone (``{dense: 64}``);
    a bad value raises ConfigError naming ``path.name`` and the allowed fields.
    """
    from pydantic import ValidationError

    if value is None:
        raw: dict[str, Any] = {}
    elif isinstance(value, dict):
        raw = value
    elif primary is not None:
        raw = {primary: value}
    else:
        raise ConfigError(f"{path}: {what} '{name}' takes no main argument; got {value!r}")
    try:
        return args_model.model_validate(raw)
    except ValidationError as exc:
        from lamina.config import format_validation_error

        raise ConfigError(format_validation_error(exc, f"{path}.{name}", args_model)) from None
