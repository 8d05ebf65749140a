"""Task sequences built from any classification dataset.

* :func:`split_by_class` (class-incremental): the classes are divided into
  consecutive groups, one task per group; the model keeps one shared head over
  all classes, so it must tell apart classes it never saw together.
* :func:`permuted` (domain-incremental): every task holds all samples with its
  own fixed permutation of the input features (task 0 is unpermuted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lamina.data.prepare import Prepared, Split
from lamina.errors import ConfigError


@dataclass
class Task:
    """One task of a sequence: its name, its class indices and its train/val/test splits."""

    name: str
    classes: list[int]
    train: Split
    val: Split
    test: Split

    def prepared(self, data: Prepared) -> Prepared:
        """The task as the loop's input (the dataset's preprocessing, this task's rows)."""
        return Prepared(self.train, self.val, self.test, data.preprocessor, f"{data.source} {self.name}")


def split_by_class(data: Prepared, n_tasks: int) -> list[Task]:
    """Class-incremental tasks: classes in label order, divided into ``n_tasks`` groups of (nearly) equal size."""
    if data.task != "multiclass":
        raise ConfigError(f"continual.scenario 'class_split' needs a multiclass dataset; {data.source} is {data.task}")
    n_classes = data.n_outputs
    if n_tasks > n_classes:
        raise ConfigError(f"continual.tasks must be at most the number of classes ({n_classes}) for class_split; "
                          f"got {n_tasks}")
    names = data.preprocessor.target.classes
    tasks = []
    for t, group in enumerate(np.array_split(np.arange(n_classes), n_tasks)):
        members = torch.as_tensor(group)
        tasks.append(Task(f"task {t + 1} (classes {', '.join(names[c] for c in group)})", group.tolist(),
                          *(_select(s, torch.isin(s.y, members)) for s in (data.train, data.val, data.test))))
    return tasks


def permuted(data: Prepared, n_tasks: int, seed: int = 0) -> list[Task]:
    """Domain-incremental tasks: task 0 as it is, each later task with its own fixed feature permutation."""
    if data.task == "regression":
        raise ConfigError(f"continual learning needs a classification dataset; {data.source} is regression")
    generator = torch.Generator().manual_seed(seed)
    features = int(np.prod(data.input_shape))
    classes = list(range(data.n_outputs if data.task == "multiclass" else 2))
    tasks = []
    for t in range(n_tasks):
        order = torch.arange(features) if t == 0 else torch.randperm(features, generator=generator)
        tasks.append(Task(f"task {t + 1} ({'original' if t == 0 else 'permutation ' + str(t)})", classes,
                          *(_permute(s, order) for s in (data.train, data.val, data.test))))
    return tasks


def make_tasks(data: Prepared, scenario: str, n_tasks: int, seed: int = 0) -> list[Task]:
    """The task sequence of ``continual.scenario``."""
    if scenario == "class_split":
        return split_by_class(data, n_tasks)
    return permuted(data, n_tasks, seed)


def _select(split: Split, mask: torch.Tensor) -> Split:
    rows = mask.reshape(len(mask), -1)[:, 0]
    return Split(split.x[rows], split.y[rows], split.rows[rows.numpy()])


def _permute(split: Split, order: torch.Tensor) -> Split:
    x = split.x.reshape(len(split.x), -1)[:, order].reshape(split.x.shape)  # (N, *input_shape)
    return Split(x.contiguous(), split.y, split.rows)
