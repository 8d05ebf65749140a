"""Data-parallel training through torch.distributed: PyTorch's launcher, process group and DDP.

``lamina train CONFIG --nproc N`` re-runs the same command under
``torch.distributed.run`` (torchrun), which starts N worker processes with
RANK, WORLD_SIZE and LOCAL_RANK set. Each worker joins one process group
(gloo on the CPU, nccl on CUDA) and trains the same model:

* every rank draws the same shuffled order, so a global batch is the same
  ``train.batch_size`` samples as in one process; each rank takes its strided
  share of it (``index[rank::world]``), in both batch paths;
* DistributedDataParallel averages the gradients; each rank's loss is weighed
  by its share of the global batch (:func:`shard_weights`), so an uneven last
  batch gives the same update as one process;
* the training loss is summed over ranks and validation outputs are gathered,
  so every rank logs the same metrics and makes the same early-stopping call;
* only rank 0 writes the run folder.

Checkpoints hold the plain model's weights and the global position in the
epoch, so a run resumes under a different number of processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from lamina.config import RunSpec
from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the run folder and prints progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether gradients and metrics are shared with other processes."""
        return self.size > 1


SINGLE = World()


def current_world() -> World:
    """The world of an initialized process group, or a single process."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return SINGLE


def join_from_environment(device: torch.device) -> World:
    """Join the process group torchrun describes in the environment (WORLD_SIZE > 1); else a single process.

    gloo serves the CPU and nccl CUDA; with CUDA each process takes the GPU of its LOCAL_RANK.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    if not (dist.is_available() and dist.is_initialized()):
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return current_world()


def leave() -> None:
    """Leave the process group (a no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def process_device(device: torch.device, world: World) -> torch.device:
    """This rank's device: its own GPU under CUDA, the CPU otherwise."""
    if device.type == "cuda" and world.distributed:
        return torch.device("cuda", world.local_rank)
    return device


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model as DistributedDataParallel when training with several processes; the model itself otherwise."""
    world = current_world()
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard_weights(n: int, batch_size: int, world: World) -> list[float] | None:
    """Each batch's loss weight on this rank: its share of the global batch times the world size.

    DDP averages gradients over ranks, so weighing rank r's mean loss by ``n_r * W / n`` makes
    the average the gradient of the global batch's mean loss. None in a single process.
    """
    if not world.distributed:
        return None
    check_shards(n, batch_size, world.size)
    weights = []
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        weights.append(len(range(world.rank, size, world.size)) * world.size / size)
    return weights


def check_shards(n: int, batch_size: int, processes: int) -> None:
    """Refuse a batch size whose last batch of ``n`` training rows leaves a process without a sample."""
    last = n % batch_size or batch_size
    if last < processes:
        raise ConfigError(f"train.batch_size must leave at least {processes} samples in the last batch for "
                          f"{processes} processes; got {batch_size}, whose last batch of the {n} training "
                          f"samples holds {last}")


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of ``values`` over all ranks (``values`` itself in a single process)."""
    if not current_world().distributed:
        return values
    total = values.clone()
    dist.all_reduce(total)
    return total


def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's rows in rank order (ranks may hold different counts)."""
    world = current_world()
    if not world.distributed:
        return rows
    counts = [torch.zeros(1, dtype=torch.long) for _ in range(world.size)]
    dist.all_gather(counts, torch.tensor([len(rows)]))
    most = int(max(c.item() for c in counts))
    padded = torch.zeros((most, *rows.shape[1:]), dtype=rows.dtype)
    padded[: len(rows)] = rows
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded)
    return torch.cat([part[: int(c.item())] for part, c in zip(parts, counts)])


def rank_slice(n: int, world: World) -> slice:
    """This rank's contiguous block of ``n`` rows (for validation and evaluation)."""
    per = -(-n // world.size)
    return slice(min(n, world.rank * per), min(n, (world.rank + 1) * per))


def launch(nproc: int, argv: list[str], spec: RunSpec) -> int:
    """Run ``lamina <argv>`` in ``nproc`` processes on this machine through torch.distributed.run.

    ``spec``'s data is prepared here first, so a bad data file or batch size is reported once,
    before any process starts. Returns the launcher's exit code. For several machines, run
    torchrun yourself (see the README).
    """
    if nproc < 1:
        raise ConfigError(f"nproc must be a positive integer; got {nproc}")
    check_shards(len(prepare_data(spec.data).train), spec.train.batch_size, nproc)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "lamina.cli", *argv]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc))))
    return subprocess.run(command, env=env, check=False).returncode
