"""Whether a backbone's own run trained on rows that are the new run's test rows.

A backbone trained on the same data with another split has seen some of the new
run's test rows (with their labels, or as inputs when pretrained self-supervised),
so the new run's test metrics overstate it. lamina has both configs, so it can
count those rows: when the two runs read the same source (the same builtin set or
the same file), both splits are recomputed and intersected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.config import DataSpec, RunSpec, parse_run_spec
from lamina.data.pairs import is_pairs
from lamina.data.prepare import load_source, split_rows
from lamina.errors import LaminaError
from lamina.runs import RunFolder


def backbone_overlap(spec: RunSpec) -> str | None:
    """A warning when the backbone's run trained or validated on rows of this run's test split; None otherwise.

    Nothing is said when the two runs read different sources (their rows cannot be matched) or split the
    same source the same way (then the backbone never saw this test split).
    """
    if spec.model.backbone.run is None:  # a pretrained encoder: its training data is not lamina's to compare
        return None
    mine = spec.data
    theirs = _backbone_data(Path(spec.model.backbone.run))
    if theirs is None or not _same_source(theirs, mine) or _splits_alike(theirs, mine):
        return None
    source = load_source(mine)
    other = source if (theirs.target, theirs.task) == (mine.target, mine.task) else load_source(theirs)
    if other.rows != source.rows:
        return None
    train, val, _ = split_rows(other, theirs)
    test = split_rows(source, mine)[2]
    seen = np.intersect1d(np.union1d(train, val), test)
    if not len(seen):
        return None
    return (f"{len(seen)} of this run's {len(test)} test rows were among the rows the backbone's run "
            f"({spec.model.backbone.run}) trained or validated on: it splits the same data differently "
            f"(its data.split {_split_text(theirs)}, this run's {_split_text(mine)}), so the test metrics will "
            "look better than the model is. Use the backbone's data.split to keep its test rows unseen")


def _backbone_data(root: Path) -> DataSpec | None:
    """The data spec of the run folder at ``root``, or None when its config cannot be read."""
    folder = RunFolder(root)
    try:
        return parse_run_spec(folder.read_config(), str(folder.config)).data
    except LaminaError:
        return None


def _same_source(a: DataSpec, b: DataSpec) -> bool:
    """Whether both specs read the same builtin set or the same file, split the ordinary way."""
    if a.series is not None or b.series is not None or is_pairs(a) or is_pairs(b):
        return False
    if a.dataset is not None or b.dataset is not None:
        return a.dataset == b.dataset
    return Path(a.path).resolve() == Path(b.path).resolve()


def _splits_alike(a: DataSpec, b: DataSpec) -> bool:
    """The same split of the same labels: identical rows in every split."""
    return (a.split, a.target, a.task) == (b.split, b.target, b.task)


def _split_text(data: DataSpec) -> str:
    s = data.split
    return f"val {s.val}, test {s.test}, seed {s.seed}" + ("" if s.stratify else ", not stratified")
