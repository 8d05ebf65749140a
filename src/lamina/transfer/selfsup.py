"""Self-supervised pretraining of an encoder on inputs alone (labels unused), for ``lamina pretrain``.

Two methods:

* ``simclr``: two augmented views of each input (``train.augment``, or a default image/tabular
  pipeline) go through the encoder and a small projection head; the NT-Xent loss pulls each
  pair together and pushes the other 2N - 2 views of the batch away (Chen et al., 2020).
* ``denoise``: a share of each input's features (pixels) is masked to zero, plus noise, and a
  linear decoder reconstructs the clean input from the encoder's output (masked-feature
  reconstruction); the loss counts every feature.

The encoder is the config's model without its last layer. The run folder written is an ordinary
one (config.yaml, preprocess.json, model.safetensors; its last layer untrained), so another run
uses it with ``model.backbone: {run: PATH}`` and the default cut keeps exactly the encoder.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lamina.config import RunSpec, SelfSupSpec, save_config
from lamina.data.augment import augment, check_inputs, parse_pipeline
from lamina.data.prepare import prepare_data
from lamina.device import resolve_device
from lamina.errors import ConfigError
from lamina.files import save_tensors, write_json
from lamina.nn.build import build_model
from lamina.train.optim import make_optimizer

DEFAULT_VIEWS = {3: [{"shift": 1}, {"rotate": 10}, {"cutout": {"size": 3, "p": 0.5}}, {"noise": 0.1}],
                 1: [{"noise": 0.3}, {"mixup": 0.9}]}


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent: cross-entropy of each view against its pair among the other 2N - 1 views, by cosine similarity / t."""
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, D)
    sim = z @ z.T / temperature  # (2N, 2N)
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    pairs = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, pairs)


@dataclass
class Pretrained:
    """What :func:`pretrain_encoder` returns: the per-epoch losses and seconds taken."""

    losses: list[float]
    seconds: float


def encoder_of(model: nn.Module) -> nn.Sequential:
    """A built chain model's layers without the last (the task head)."""
    return model.layers[: len(model.layers) - 1]


def pretrain_encoder(encoder: nn.Module, x: torch.Tensor, spec: SelfSupSpec, augment_items: list[Any],
                     epochs: int, batch_size: int, optimizer: Any, seed: int, device: torch.device,
                     progress: str = "none") -> Pretrained:
    """Train ``encoder`` on ``x`` by ``spec.method``; the encoder's weights change in place."""
    torch.manual_seed(seed)
    encoder.to(device).train()
    with torch.no_grad():
        width = encoder(x[:2].to(device)).reshape(2, -1).shape[1]
    if spec.method == "simclr":
        head = nn.Sequential(nn.Linear(width, spec.projection), nn.ReLU(), nn.Linear(spec.projection, spec.projection))
        steps = parse_pipeline(augment_items or DEFAULT_VIEWS.get(x.dim() - 1, []), "train.augment")
        if not steps:
            raise ConfigError("simclr needs train.augment steps for these inputs (it compares two augmented views)")
        check_inputs(steps, x[:1])
    else:
        head = nn.Linear(width, math.prod(x.shape[1:]))  # decoder: embedding -> every input feature
        steps = []
    head.to(device)
    params = list(encoder.parameters()) + list(head.parameters())
    opt = make_optimizer(params, optimizer)
    data = x.to(device)
    generator = torch.Generator(device=device).manual_seed(seed + 104729)
    losses: list[float] = []
    started = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=generator, device=device)
        total, count = 0.0, 0
        for start in range(0, len(data), batch_size):
            xb = data[order[start : start + batch_size]]
            if len(xb) < 2:
                continue
            if spec.method == "simclr":
                v1, _ = augment(steps, xb, generator)
                v2, _ = augment(steps, xb, generator)
                loss = nt_xent(head(encoder(v1).flatten(1)), head(encoder(v2).flatten(1)), spec.temperature)
            else:
                keep = (torch.rand(xb.shape, device=device, generator=generator) >= spec.mask).to(xb.dtype)
                noisy = xb * keep + spec.noise * torch.randn(xb.shape, device=device, generator=generator)
                loss = F.mse_loss(head(encoder(noisy).flatten(1)), xb.flatten(1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * len(xb), count + len(xb)
        losses.append(total / max(1, count))
        if progress != "none":
            print(f"pretrain epoch {epoch + 1}/{epochs}: {spec.method} loss {losses[-1]:.4f}", file=sys.stderr, flush=True)
    encoder.eval()
    return Pretrained(losses, time.perf_counter() - started)


def pretrain(spec: RunSpec, progress: str = "auto") -> Any:
    """Pretrain the config's model (without its last layer) self-supervised on the training inputs; write a run folder.

    Returns the run folder (a :class:`lamina.runs.RunFolder`). Labels are never used.
    """
    if spec.train.selfsup is None:
        raise ConfigError("lamina pretrain needs a train.selfsup section, e.g. train.selfsup: {method: simclr}")
    if spec.model.backbone is not None:
        raise ConfigError("lamina pretrain trains a new encoder; model.backbone cannot be used here")
    data = prepare_data(spec.data)
    torch.manual_seed(spec.seed)
    built = build_model(spec.model, data.input_shape, data.n_outputs)
    device = resolve_device(spec.train.device)
    x = torch.cat([data.train.x, data.val.x]) if len(data.val) else data.train.x  # inputs only: no label is read
    result = pretrain_encoder(encoder_of(built.model), x, spec.train.selfsup, spec.train.augment, spec.train.epochs,
                              spec.train.batch_size, spec.train.optimizer, spec.seed,
                              device, "plain" if progress != "none" else "none")
    return write_encoder_run(spec, data.preprocessor, built.model, {
        "method": spec.train.selfsup.method, "samples": len(x), "epochs": spec.train.epochs,
        "losses": result.losses, "seconds": round(result.seconds, 3)})


def write_encoder_run(spec: RunSpec, preprocessor: Any, model: nn.Module, record: dict[str, Any]) -> Any:
    """Write a run folder holding ``model`` (an encoder plus an untrained last layer) and pretrain.json."""
    from lamina.runs import RunFolder

    folder = RunFolder.create(spec.runs_dir, spec.name)
    save_config(spec, folder.config)
    write_json(folder.preprocess, preprocessor.to_json())
    save_tensors(folder.weights, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    note = "the last layer is untrained; use this run as model.backbone (the default cut keeps the encoder)"
    write_json(folder.root / "pretrain.json", {**record, "note": note})
    return folder
