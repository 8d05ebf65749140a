"""DistributedDataParallel in one process: lamina's digits CNN in torch's DDP over a process group of one, trained.

lamina wraps its model in DDP only when two or more processes train (``lamina.train.distributed``),
so on a machine with one GPU this is how the pieces get checked together: torchrun's environment,
the device's collective backend (nccl on CUDA, gloo on the CPU), DDP's gradient all-reduce over
one of lamina's built models (DDP refuses a step in which a parameter got no gradient), and the
training still learning. Exits 1 when the test accuracy stays under ``ACCURACY``.

    python -m torch.distributed.run --standalone --nproc-per-node=1 benchmarks/gpu_ddp.py --device cuda
    python -m torch.distributed.run --standalone --nproc-per-node=1 benchmarks/gpu_ddp.py --device cpu --epochs 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from lamina.data.prepare import prepare_data
from lamina.nn.build import build_model
from lamina.trainer import as_spec

CONFIG = {"name": "ddp", "data": {"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
          "model": {"arch": "cnn", "channels": [16, 32], "dense": [64]}}
ACCURACY = 0.9


def main() -> int:
    """Join the group, train the wrapped model, print its speed and accuracy; 1 if it did not learn."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    if "LOCAL_RANK" not in os.environ:
        raise SystemExit("error: start this under torchrun: python -m torch.distributed.run --standalone "
                         "--nproc-per-node=1 benchmarks/gpu_ddp.py")
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("error: --device cuda, but torch sees no CUDA device")
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(0)
    spec = as_spec(CONFIG)
    data = prepare_data(spec.data)
    model = build_model(spec.model, data.input_shape, data.output_shape).model.to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(ddp.parameters(), lr=3e-3)
    x, y = data.train.x.to(device), data.train.y.to(device)
    started = time.perf_counter()
    for _ in range(args.epochs):
        for rows in torch.randperm(len(x), device=device).split(64):
            loss = F.cross_entropy(ddp(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP all-reduces every gradient here
            optimizer.step()
    seconds = (time.perf_counter() - started) / args.epochs
    ddp.eval()
    with torch.no_grad():
        accuracy = float((ddp(data.test.x.to(device)).argmax(1) == data.test.y.to(device)).float().mean())
    print(f"DDP, 1 process, {dist.get_backend()} on {device}: {seconds:.3f} s/epoch, test accuracy {accuracy:.4f} "
          f"after {args.epochs} epochs (bar {ACCURACY}: {'ok' if accuracy >= ACCURACY else 'MISSED'})")
    dist.destroy_process_group()
    return 0 if accuracy >= ACCURACY else 1


if __name__ == "__main__":
    sys.exit(main())
