"""Self-supervised pretraining of an encoder on inputs alone (labels unused), for ``lamina pretrain``.

Two methods:

* ``simclr``: two augmented views of each input (``train.augment``, or a default image/tabular
  pipeline) go through the encoder and a small projection head; the NT-Xent loss pulls each
  pair together and pushes the other 2N - 2 views of the batch away (Chen et al., 2020).
* ``denoise``: a share of each input's features (pixels) is masked to zero, plus noise, and a
  linear decoder reconstructs the clean input from the encoder's output (masked-feature
  reconstruction); the loss counts every feature.

The encoder is the config's model without its last layer. The run folder written is an ordinary
one (config.yaml, preprocess.json, model.safetensors; its last layer untrained; report.html with the
loss curve), so another run uses it with ``model.backbone: {run: PATH}`` and the default cut keeps
exactly the encoder.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.config import RunSpec, SelfSupSpec, TrainSpec, save_config
from lamina.data.augment import augment, check_inputs, parse_pipeline
from lamina.data.prepare import Prepared, Split, prepare_data
from lamina.errors import ConfigError
from lamina.files import read_json, save_tensors, write_json
from lamina.nn.build import build_model
from lamina.train.callbacks import Callback, EarlyStopping, MetricsLog, Progress, TensorBoardLog, check_monitor
from lamina.train.fields import refuse_train_fields
from lamina.device import resolve_device
from lamina.train.loop import State, fit
from lamina.train.steps import Step
from lamina.transfer.report import write_pretrain_report

# The train fields pretraining cannot use: refused, naming the field, when a config sets them.
REFUSED = {"loss": "the pretraining method sets its loss", "label_smoothing": "labels are unused",
           "huber_delta": "the pretraining method sets its loss", "epoch_metrics": "labels are unused",
           "class_weight": "labels are unused", "log": "pretraining logs to TensorBoard only (train.tensorboard)",
           "adversarial": "it needs a classifier", "lr_groups": "it trains a new encoder, not a backbone",
           "restore_best": "there is no validation to choose by; the last weights are kept",
           "diagnose": "the monitor judges a loss against labels' input-blind baseline; pretraining uses no labels",
           "diagnose_every": "see train.diagnose"}
HEAD = "pretrain_head.safetensors"  # the projection head or decoder, kept so the pretext loss can be re-scored
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
    """What :func:`pretrain_encoder` returns: the per-epoch losses, seconds taken, and the trained pair and step."""

    losses: list[float]
    seconds: float
    model: Pretraining
    step: Step


def encoder_of(model: nn.Module) -> nn.Sequential:
    """A built chain model's layers without the last (the task head)."""
    return model.layers[: len(model.layers) - 1]


class Pretraining(nn.Module):
    """The encoder and the head a self-supervised loss trains with it (a projection head, or a decoder)."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The head's output for the encoder's embedding of ``x``."""
        return self.head(self.encoder(x).flatten(1))


class Contrastive(Step):
    """SimCLR: two augmented views of each input, NT-Xent between their projections; labels unused."""

    def __init__(self, steps: list[Any], temperature: float) -> None:
        self.steps, self.temperature = steps, temperature

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        xb = batch[0]
        # a generator seeded from torch's global one, which checkpoints save: a resumed run draws the same views
        views = torch.Generator(xb.device).manual_seed(int(torch.randint(2**62, (1,))))
        v1, _ = augment(self.steps, xb, views)
        v2, _ = augment(self.steps, xb, views)
        with state.autocast:
            loss = nt_xent(state.net(v1).float(), state.net(v2).float(), self.temperature)
        state.update(loss)
        return loss

    def pretext_loss(self, model: Pretraining, xb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The NT-Xent loss of one batch of held-out inputs, its views drawn from ``generator`` (no update)."""
        v1, _ = augment(self.steps, xb, generator)
        v2, _ = augment(self.steps, xb, generator)
        return nt_xent(model(v1).float(), model(v2).float(), self.temperature)


class Masked(Step):
    """Masked-feature reconstruction: zero a share of the features, add noise, decode the clean input."""

    def __init__(self, mask: float, noise: float) -> None:
        self.mask, self.noise = mask, noise

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        xb = batch[0]
        keep = (torch.rand(xb.shape, device=xb.device) >= self.mask).to(xb.dtype)
        noisy = xb * keep + self.noise * torch.randn(xb.shape, device=xb.device)
        with state.autocast:
            loss = F.mse_loss(state.net(noisy).float(), xb.flatten(1))
        state.update(loss)
        return loss

    def pretext_loss(self, model: Pretraining, xb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The reconstruction MSE of one batch of held-out inputs, masked and noised from ``generator``."""
        keep = (torch.rand(xb.shape, generator=generator) >= self.mask).to(xb.dtype)
        noisy = xb * keep + self.noise * torch.randn(xb.shape, generator=generator)
        return F.mse_loss(model(noisy).float(), xb.flatten(1))


@torch.no_grad()
def held_out_loss(model: Pretraining, step: Contrastive | Masked, x: torch.Tensor, batch_size: int, seed: int
                  ) -> float:
    """The pretext loss over held-out inputs ``x`` (on the CPU, eval mode), in batches of the training size.

    Views and masks come from a generator seeded with ``seed``, so training (pretrain.json's
    ``test_pretext_loss``) and ``lamina evaluate`` get the same number from the same weights.
    """
    model.cpu().eval()
    generator = torch.Generator().manual_seed(seed)
    total = sum(float(step.pretext_loss(model, xb, generator)) * len(xb) for xb in x.split(batch_size))
    return total / len(x)


def pretraining(encoder: nn.Module, x: torch.Tensor, spec: SelfSupSpec, augment_items: list[Any]
                ) -> tuple[Pretraining, Step]:
    """The encoder with the head ``spec.method`` trains, and the step that trains them."""
    with torch.no_grad():
        width = encoder.eval()(x[:2]).reshape(2, -1).shape[1]
    if spec.method == "simclr":
        head = nn.Sequential(nn.Linear(width, spec.projection), nn.ReLU(), nn.Linear(spec.projection, spec.projection))
        steps = parse_pipeline(augment_items or DEFAULT_VIEWS.get(x.dim() - 1, []), "train.augment")
        if not steps:
            raise ConfigError("simclr needs train.augment steps for these inputs (it compares two augmented views)")
        check_inputs(steps, x[:1])
        return Pretraining(encoder, head), Contrastive(steps, spec.temperature)
    head = nn.Linear(width, math.prod(x.shape[1:]))  # decoder: embedding -> every input feature
    return Pretraining(encoder, head), Masked(spec.mask, spec.noise)


def pretrain_encoder(encoder: nn.Module, x: torch.Tensor, spec: SelfSupSpec, augment_items: list[Any],
                     train: TrainSpec, seed: int, device: torch.device, progress: str = "none",
                     callbacks: list[Callback] | None = None, resume: Any = None) -> Pretrained:
    """Train ``encoder`` on ``x`` by ``spec.method`` through the one loop; the encoder's weights change in place.

    ``callbacks`` join the progress display (a run folder's logs and checkpoints); ``resume`` is a
    loaded checkpoint to continue from.
    """
    torch.manual_seed(seed)
    model, step = pretraining(encoder, x, spec, augment_items)
    rows = np.arange(len(x))
    inputs = Split(x, torch.zeros(len(x)), rows)
    data = Prepared(inputs, Split(x[:0], torch.zeros(0), rows[:0]), Split(x[:0], torch.zeros(0), rows[:0]), None, "")
    started = time.perf_counter()
    state = fit(model, data, train, [Progress(progress), *(callbacks or [])], device, seed=seed + 104729,
                resume=resume, step=step)
    encoder.eval()
    return Pretrained([logs["train_loss"] for logs in state.history], time.perf_counter() - started, model, step)


def pretrain(spec: RunSpec, progress: str = "auto", resume: bool = False,
             extra_callbacks: list[Callback] | None = None) -> Any:
    """Pretrain the config's model (without its last layer) self-supervised on the training inputs; write a run folder.

    Returns the run folder (a :class:`lamina.runs.RunFolder`). Labels are never used. The folder holds
    metrics.jsonl and checkpoints/ as any run's; with ``resume``, the newest unfinished run of the
    config's name continues from its newest valid checkpoint.
    """
    from lamina.runs import RunFolder
    from lamina.train.checkpoint import Checkpoints
    from lamina.trainer import _resume_checkpoint, unfinished_run

    t = spec.train
    if t.selfsup is None:
        raise ConfigError("lamina pretrain needs a train.selfsup section, e.g. train.selfsup: {method: simclr}")
    if spec.model.backbone is not None:
        raise ConfigError("lamina pretrain trains a new encoder; model.backbone cannot be used here")
    refused = REFUSED | ({"augment": "the denoise method masks and noises its inputs itself"}
                         if t.selfsup.method == "denoise" else {})
    refuse_train_fields(t, refused, t.selfsup.method, f"train.selfsup.method: {t.selfsup.method}")
    if "monitor" in t.model_fields_set:
        check_monitor(t.monitor, ["train_loss"], "train.monitor")
    if t.early_stopping is not None:
        check_monitor(t.early_stopping.monitor, ["train_loss"], "train.early_stopping.monitor")
    if t.threads is not None:
        torch.set_num_threads(t.threads)
    data = prepare_data(spec.data)
    torch.manual_seed(spec.seed)
    built = build_model(spec.model, data.input_shape, data.n_outputs)
    device = resolve_device(spec.train.device)
    x = torch.cat([data.train.x, data.val.x]) if len(data.val) else data.train.x  # inputs only: no label is read
    folder = unfinished_run(spec.runs_dir, spec.name) if resume else None
    checkpoint = _resume_checkpoint(folder, spec, data, progress) if folder is not None else None
    folder = folder or RunFolder.create(spec.runs_dir, spec.name)
    save_config(spec, folder.config)  # first, so an interrupted run can be found and resumed
    write_json(folder.preprocess, data.preprocessor.to_json())
    checkpoints = Checkpoints(folder.checkpoints, t.checkpoint, "train_loss", "min", spec.to_dict())
    callbacks: list[Callback] = [MetricsLog(folder.metrics)]
    if t.tensorboard:
        callbacks.append(TensorBoardLog(folder.tensorboard))
    if t.early_stopping is not None:
        es = t.early_stopping
        callbacks.append(EarlyStopping.from_spec(es, higher=lambda monitor: False))  # a pretext loss falls
    callbacks += [*(extra_callbacks or []), checkpoints]
    result = pretrain_encoder(encoder_of(built.model), x, spec.train.selfsup, spec.train.augment, spec.train,
                              spec.seed, device, "plain" if progress != "none" else "none", callbacks, checkpoint)
    record = {"method": spec.train.selfsup.method, "samples": len(x), "epochs": spec.train.epochs,
              "losses": result.losses, "seconds": round(result.seconds, 3)}
    if len(data.test):  # the pretext loss on inputs pretraining never saw; the head is kept to score it again
        save_tensors(folder.root / HEAD, {k: v.detach().cpu() for k, v in result.model.head.state_dict().items()})
        record |= {"test_pretext_loss": held_out_loss(result.model, result.step, data.test.x, t.batch_size, spec.seed),
                   "test_samples": len(data.test)}
    folder = write_encoder_run(spec, data.preprocessor, built.model, record, folder)
    write_pretrain_report(folder.root, spec.name, read_json(folder.root / "pretrain.json"))
    return folder


def write_encoder_run(spec: RunSpec, preprocessor: Any, model: nn.Module, record: dict[str, Any],
                      folder: Any = None) -> Any:
    """Write ``model`` (an encoder plus an untrained last layer) and pretrain.json into ``folder`` (None: a new one)."""
    from lamina.runs import RunFolder

    folder = folder or RunFolder.create(spec.runs_dir, spec.name)
    save_config(spec, folder.config)
    write_json(folder.preprocess, preprocessor.to_json())
    save_tensors(folder.weights, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    note = "the last layer is untrained; use this run as model.backbone (the default cut keeps the encoder)"
    write_json(folder.root / "pretrain.json", {**record, "note": note})
    return folder
