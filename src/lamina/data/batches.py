"""Batching: an in-memory fast path and a DataLoader path, with the same interface.

The fast path keeps the whole split as tensors on the training device and
slices batches by index (a fresh permutation each epoch): no per-sample
collation, which is what dominates small-data training time in a DataLoader.
The DataLoader path serves data that should stay in host memory or stream.

Under data-parallel training (``world`` > 1) every rank draws the same order and
keeps its strided share of each global batch, so ``batch_size`` stays the
global batch and the batches are the same as in one process.

With ``balanced`` (``data.sampler: balanced``) each epoch draws as many rows as the
split holds, with replacement, each class equally often on average. The draw comes from
the same generator as the shuffled order, so an interrupted epoch resumes exactly.

Both can resume an epoch part-way: each records the state its generator had
when the epoch's order was drawn (``epoch_rng``), and :meth:`resume` makes the
next epoch draw that same order again and start after the batches already done.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import (BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset,
                              WeightedRandomSampler)


class Resumable:
    """Epoch-order bookkeeping shared by both paths (see the module docstring)."""

    generator: torch.Generator | None
    epoch_rng: torch.Tensor | None = None
    skip = 0

    def resume(self, epoch_rng: torch.Tensor | None, done: int) -> None:
        """Make the next epoch repeat the order drawn from ``epoch_rng``, starting after ``done`` batches."""
        if self.generator is not None and epoch_rng is not None:
            self.generator.set_state(epoch_rng)
        self.skip = done

    def _start_epoch(self) -> int:
        """Record the generator state this epoch's order comes from; return the batches to skip."""
        if self.generator is not None:
            self.epoch_rng = self.generator.get_state()
        skip, self.skip = self.skip, 0
        return skip


class MemoryBatches(Resumable):
    """Batches sliced from tensors held on ``device``; reshuffled each epoch when ``shuffle``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool,
                 generator: torch.Generator | None, device: torch.device, rank: int = 0, world: int = 1,
                 weights: torch.Tensor | None = None) -> None:
        self.weights = weights
        self.x = x.to(device)
        self.y = y.to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return (len(self.x) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        first = self._start_epoch() * self.batch_size
        if self.shuffle:
            order = (torch.randperm(n, generator=self.generator) if self.weights is None else
                     torch.multinomial(self.weights, n, replacement=True, generator=self.generator)).to(self.x.device)
            for start in range(first, n, self.batch_size):
                index = order[start : start + self.batch_size][self.rank :: self.world]
                yield self.x[index], self.y[index]
        else:
            for start in range(first, n, self.batch_size):
                share = slice(start + self.rank, start + self.batch_size, self.world)
                yield self.x[share], self.y[share]


class LoaderBatches(Resumable):
    """Batches from a torch DataLoader (host memory, optional worker processes), moved to ``device``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool,
                 generator: torch.Generator | None, device: torch.device, workers: int = 0,
                 rank: int = 0, world: int = 1, weights: torch.Tensor | None = None) -> None:
        self.generator = generator
        dataset = TensorDataset(x, y)
        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if shuffle and weights is not None:
            order = WeightedRandomSampler(weights, len(dataset), replacement=True, generator=generator)
        batches = RankShare(BatchSampler(order, batch_size, drop_last=False), rank, world)
        # Worker seeds come from a generator of the loader's own, not torch's global one, so the global
        # stream (dropout) is the same on both paths and a mid-epoch resume takes no extra draw from it.
        seeds = torch.Generator().manual_seed(generator.initial_seed() if generator is not None else 0)
        self.loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                                 pin_memory=device.type == "cuda", generator=seeds)
        self.device = device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        skip = self._start_epoch()
        for i, (xb, yb) in enumerate(self.loader):  # the loader draws its order from the generator here
            if i < skip:
                continue
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)


class RankShare:
    """A batch sampler's global batches, each cut down to one rank's strided share."""

    def __init__(self, batches: BatchSampler, rank: int, world: int) -> None:
        self.batches, self.rank, self.world = batches, rank, world

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            yield batch[self.rank :: self.world]


def make_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, device: torch.device,
                 path: str = "auto", seed: int = 0, workers: int = 0, rank: int = 0,
                 world: int = 1, sampler: str = "shuffle") -> MemoryBatches | LoaderBatches:
    """Pick the batch path ('auto' = in memory unless the split exceeds 1 GiB) and build it.

    ``rank`` and ``world`` give this process's share of every batch under data-parallel training;
    ``sampler`` 'balanced' draws classes equally often (``y`` must hold class labels).
    """
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    weights = balanced_weights(y) if sampler == "balanced" else None
    big = x.element_size() * x.nelement() > 1 << 30
    if path == "loader" or (path == "auto" and big):
        return LoaderBatches(x, y, batch_size, shuffle, generator, device, workers, rank, world, weights)
    return MemoryBatches(x, y, batch_size, shuffle, generator, device, rank, world, weights)


def balanced_weights(y: torch.Tensor) -> torch.Tensor:
    """Each row's drawing weight, one over its class's row count: every class is drawn equally often."""
    classes = y.reshape(len(y), -1)[:, 0].round().long()
    counts = torch.bincount(classes).double()
    return 1.0 / counts[classes]
