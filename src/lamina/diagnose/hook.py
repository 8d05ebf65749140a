"""``train.diagnose``: the training monitor watches a run and writes diagnosis.json (see lamina.train.hooks)."""

from __future__ import annotations

import sys
from pathlib import Path

from lamina.diagnose.monitor import Monitor
from lamina.diagnose.run import format_diagnosis, write_diagnosis
from lamina.train.hooks import HOOKS, FamilySpec, Hook, Setup


def finish_diagnosis(root: Path, monitor: Monitor, progress: str, diverged: str | None = None,
                     retrains: bool = True) -> None:
    """Write monitor.json and diagnosis.json and print the findings.

    Findings are results, not progress: they are printed whatever the progress
    mode, with where they are kept; only a clean bill of health stays quiet
    under ``progress='none'``. ``retrains``: whether ``--remedy`` can retrain the run (supervised runs).
    """
    diagnosis = write_diagnosis(root, monitor.record(), diverged)
    if progress != "none" or not diagnosis["healthy"]:
        print(f"{format_diagnosis(diagnosis, retrains)}\n  (kept in {root / 'diagnosis.json'})", file=sys.stderr)


def add_monitor(setup: Setup) -> None:
    """Watch training every ``train.diagnose_every`` steps; write the diagnosis when training ends."""
    monitor = Monitor(setup.spec.train.diagnose_every, baseline=setup.baseline)
    retrains = not isinstance(setup.spec, FamilySpec)  # a family's run (language model, U-Net, ...): no --remedy
    setup.observers.append(monitor)
    setup.finishers.append(lambda root, progress, diverged: finish_diagnosis(root, monitor, progress, diverged,
                                                                            retrains))


HOOKS.add("train.diagnose", Hook("observer", lambda spec: spec.train.diagnose, add_monitor))
