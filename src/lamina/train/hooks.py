"""Feature hooks: how a feature folder joins a training run without the trainer importing it.

DESIGN.md keeps feature folders (robust, transfer, diagnose, generative, ...)
apart, and ``lamina.trainer`` imports none of them. Instead each feature that
takes part in training registers a :class:`Hook` in :data:`HOOKS` under the
spec section that turns it on (``train.adversarial``, ``train.diagnose``,
``model.backbone``, ``data.synthetic``), in its own ``hook.py``; the registry's
entry list (``lamina.registry.HOOK_MODULES``) names those modules in one place.

The trainer calls :func:`apply_hooks` at three stages, and the active hooks of
that stage run in the entry list's order:

- ``data``: after the data is prepared, before the model is built (may replace ``setup.data``);
- ``training``: after the model is built, before the loop starts (may replace what the loop trains,
  ``setup.model``/``setup.data``, set rate ``groups`` and add ``callbacks``);
- ``observer``: on the process that writes the run, after the caller's own callbacks (adds
  ``observers``, callbacks that watch everything else, and ``finishers`` that write their findings
  when training ends or diverges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.registry import HOOK_MODULES, Registry

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lamina.config import RunSpec
    from lamina.data.prepare import Prepared
    from lamina.train.callbacks import Callback

STAGES = ("data", "training", "observer")


@dataclass
class Setup:
    """The run being assembled: hooks read ``spec``, ``device`` and ``main`` and may replace or extend the rest."""

    spec: RunSpec
    data: Prepared
    device: torch.device | None = None
    main: bool = True
    model: nn.Module | None = None
    groups: list[dict[str, Any]] | None = None
    callbacks: list[Callback] = field(default_factory=list)
    observers: list[Callback] = field(default_factory=list)
    finishers: list[Callable[[Path, str, str | None], None]] = field(default_factory=list)
    baseline: tuple[torch.Tensor, str | None] | None = None  # what an input-blind model predicts, when not the labels

    def finish(self, root: Path, progress: str, diverged: str | None = None) -> None:
        """Let every observer write its findings into the run folder ``root`` (``diverged``: why training stopped)."""
        for finisher in self.finishers:
            finisher(root, progress, diverged)


@dataclass(frozen=True)
class Hook:
    """One feature's part in training: the stage it runs at, whether a spec turns it on, and what it does."""

    stage: str
    active: Callable[[RunSpec], bool]
    apply: Callable[[Setup], None]
    doc: str = ""


HOOKS: Registry[Hook] = Registry("feature hook", modules=HOOK_MODULES)


@dataclass(frozen=True)
class FamilySpec:
    """What an observer hook reads of a run that is not a RunSpec (a language model, a U-Net): its train section."""

    train: Any


def family_observers(train: Any, data: Prepared, device: torch.device,
                     baseline: tuple[torch.Tensor, str | None] | None = None) -> Setup:
    """The observer hooks (``train.diagnose``'s monitor) for a family run trained from its own spec.

    A family that passes its ``train`` section here gets the callbacks to add (``observers``) and
    the ``finish`` that writes their findings, as a supervised run does; no feature is imported.
    ``baseline`` is (targets, task) when the loss is not scored against the data's labels (an
    autoencoder's targets are its inputs: task ``regression``).
    """
    return apply_hooks("observer", Setup(FamilySpec(train), data, device, baseline=baseline))


def apply_hooks(stage: str, setup: Setup) -> Setup:
    """Run the registered hooks of ``stage`` that ``setup.spec`` turns on, in the entry list's order."""
    if stage not in STAGES:
        raise ValueError(f"hook stage must be one of {STAGES}; got {stage!r}")  # a programming error, not a user one
    hooks = [entry.obj for entry in HOOKS.ordered()]
    for hook in sorted(hooks, key=lambda h: HOOK_MODULES.index(h.apply.__module__)):  # the entry list's order
        if hook.stage == stage and hook.active(setup.spec):
            hook.apply(setup)
    return setup
