"""``train.diagnose``: the training monitor watches a run and writes diagnosis.json (see lamina.train.hooks)."""

from __future__ import annotations

import sys
from pathlib import Path

from lamina.diagnose.monitor import Monitor
from lamina.diagnose.run import format_diagnosis, write_diagnosis
from lamina.train.hooks import HOOKS, Hook, Setup


def finish_diagnosis(root: Path, monitor: Monitor, progress: str, diverged: str | None = None) -> None:
    """Write monitor.json and diagnosis.json and print the findings.

    Findings are results, not progress: they are printed whatever the progress
    mode, with where they are kept; only a clean bill of health stays quiet
    under ``progress='none'``.
    """
    diagnosis = write_diagnosis(root, monitor.record(), diverged)
    if progress != "none" or not diagnosis["healthy"]:
        print(f"{format_diagnosis(diagnosis)}\n  (kept in {root / 'diagnosis.json'})", file=sys.stderr)


def add_monitor(setup: Setup) -> None:
    """Watch training every ``train.diagnose_every`` steps; write the diagnosis when training ends."""
    monitor = Monitor(setup.spec.train.diagnose_every, baseline=setup.baseline)
    setup.observers.append(monitor)
    setup.finishers.append(lambda root, progress, diverged: finish_diagnosis(root, monitor, progress, diverged))


HOOKS.add("train.diagnose", Hook("observer", lambda spec: spec.train.diagnose, add_monitor))
