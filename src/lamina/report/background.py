"""Draw a run's figures in a background process, so training returns without waiting for matplotlib.

``lamina.fit`` writes report.html and returns; a forked process (it inherits the figures'
data: nothing is pickled) draws the figures into a private folder beside the run folder and
renames each finished PNG into ``figures/``, so ``figures/`` only ever holds complete files
and a copy of the run folder taken meanwhile never meets a temporary file. At most one
drawing runs at a time: a new one first waits for the one before. :func:`wait_for_reports`
waits for the drawing this process started; the CLI calls it before printing the results,
and the interpreter's exit waits too (the process is not a daemon). Elsewhere than on
Linux (macOS and Windows, where forking is unsafe or missing), the figures are drawn at once.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina.files import fsync_dir

_drawing: list[Any] = []  # the multiprocessing.Process drawing now, if any


@dataclass
class Figure:
    """One file of a report's figures/: ``draw(*args, path)`` writes it."""

    name: str
    draw: Callable[..., Any]
    args: tuple[Any, ...]


def draw_figures(figures: list[Figure], folder: Path) -> None:
    """Write every figure into ``folder`` now (each file atomically)."""
    for figure in figures:
        figure.draw(*figure.args, folder / figure.name)


def draw_in_background(figures: list[Figure], folder: Path) -> None:
    """Start drawing ``figures`` into ``folder`` in a background process and return at once."""
    wait_for_reports()
    if not sys.platform.startswith("linux"):
        draw_figures(figures, folder)
        return
    process = multiprocessing.get_context("fork").Process(target=_draw_then_move, args=(figures, Path(folder)),
                                                          name=f"lamina report {Path(folder).parent.name}")
    process.start()
    _drawing.append(process)


def wait_for_reports() -> None:
    """Block until the report figures this process is drawing in the background are in their figures/ folder."""
    while _drawing:
        _drawing.pop().join()


def _draw_then_move(figures: list[Figure], folder: Path) -> None:
    """The background process: draw into a private folder, then rename each finished file into ``folder``."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.parent.name}.figures-", dir=folder.parent.parent))
    except OSError:
        staging = folder  # the runs folder is read-only: draw in place
    try:
        for figure in figures:
            try:
                draw_figures([figure], staging)
                if staging != folder:
                    os.replace(staging / figure.name, folder / figure.name)
            except (OSError, ValueError, RuntimeError) as exc:
                print(f"warning: {folder / figure.name} was not drawn: {exc}", file=sys.stderr, flush=True)
        fsync_dir(folder)
    finally:
        if staging != folder:
            shutil.rmtree(staging, ignore_errors=True)
