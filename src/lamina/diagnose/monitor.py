"""Training monitors: a callback that samples the network's health every N steps.

On a sampled step it records, per layer with weights, the gradient norm (from
``on_after_backward``, before clipping), the weight norm and the update-to-weight
ratio of the optimizer step; forward hooks, installed only for that step, record
each activation layer's mean and spread, the fraction of dead ReLU-family units
and the fraction of saturated sigmoid/tanh outputs. Steps in between cost one
modulo. A non-finite loss on a sampled step stops training with the step and
the layer whose gradients blew up.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from lamina.diagnose.reference import linear_reference
from lamina.train.callbacks import Callback, validate_state
from lamina.train.loop import State, TrainingDiverged

RELU_FAMILY = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU)
SQUASHING = (nn.Sigmoid, nn.Tanh)


def weight_layers(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weight matrix or kernel of every layer that has one, by module name (biases left out)."""
    return {name.removesuffix(".weight"): p for name, p in model.named_parameters()
            if name.endswith(".weight") and p.dim() > 1 and p.requires_grad}


def activation_layers(model: nn.Module) -> dict[str, nn.Module]:
    """ReLU-family and sigmoid/tanh modules, by name: the layers whose outputs are watched."""
    return {name: m for name, m in model.named_modules() if isinstance(m, RELU_FAMILY + SQUASHING)}


def baseline_loss(y: torch.Tensor, task: str) -> float:
    """The training loss of a model that ignores its input (class priors, or the target mean)."""
    y = y.detach().double().cpu()
    if task == "regression":
        return float(((y - y.mean(dim=0)) ** 2).mean())
    counts = class_counts(y, task)
    p = torch.tensor([c for c in counts if c], dtype=torch.float64) / sum(counts)
    return float(-(p * p.log()).sum())


def class_counts(y: torch.Tensor, task: str) -> list[int]:
    """Samples per class in encoded targets (empty for regression)."""
    if task == "regression":
        return []
    labels = y.reshape(-1).long().cpu()
    return torch.bincount(labels, minlength=2 if task == "binary" else 0).tolist()


class _Saved(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ActivationStats(_Saved):
    mean: float
    std: float
    fraction: float = Field(ge=0, le=1)


Norm = Annotated[float, Field(ge=0)]


class Sample(_Saved):
    """One sampled step, as saved in checkpoints (a norm may be infinite or NaN on the step that diverged)."""

    step: int = Field(ge=0)
    epoch: int = Field(ge=1)
    loss: float
    grad_norm: dict[str, Norm]
    weight_norm: dict[str, Norm]
    activations: dict[str, ActivationStats]
    update_ratio: dict[str, Norm]


class MonitorState(_Saved):
    samples: list[Sample]


class Monitor(Callback):
    """Sample gradient, weight, update and activation statistics every ``every`` steps.

    A run too short to give ``min_samples`` samples at that period is sampled
    more often (down to every step), so the detectors always have evidence.

    ``samples`` holds one dict per sampled step; :meth:`record` is what
    monitor.json stores and the detectors read.
    """

    def __init__(self, every: int = 50, min_samples: int = 20,
                 baseline: tuple[torch.Tensor, str | None] | None = None) -> None:
        self.every = every
        self.baseline = baseline  # (targets, task) of the loss when not the data's labels (an autoencoder's inputs)
        self.min_samples = min_samples
        self.period = every
        self.samples: list[dict[str, Any]] = []
        self.context: dict[str, Any] = {}
        self.weights: dict[str, nn.Parameter] = {}
        self.activations: dict[str, nn.Module] = {}
        self.hooks: list[Any] = []
        self.stats: dict[str, torch.Tensor] = {}
        self.before: dict[str, torch.Tensor] = {}
        self.sample: dict[str, Any] | None = None

    def on_train_start(self, state: State) -> None:
        steps = state.epochs * -(-state.steps_per_epoch // state.spec.accumulate_steps)
        self.period = max(1, min(self.every, steps // self.min_samples))  # short runs still get enough samples
        self.weights = weight_layers(state.model)
        self.activations = activation_layers(state.model)
        # a family without a preprocessor (language model: next-token ids; U-Net: pixel classes) has no table task:
        # its input-blind baseline is the prior entropy of its targets, and class counts do not apply
        task = state.data.task if state.data.preprocessor is not None else None
        targets = state.data.train.y
        if self.baseline is not None:
            targets, task = self.baseline
        self.context = {
            "task": task,
            "steps_per_epoch": state.steps_per_epoch,
            "every": self.period,
            "layers": list(self.weights),
            "activations": {name: type(m).__name__ for name, m in self.activations.items()},
            "class_counts": class_counts(targets, task) if task is not None else [],
            "baseline_loss": baseline_loss(targets, task) if state.spec.loss == "auto" else None,
            "lr": state.spec.optimizer.lr,
            "reference": None if self.baseline is not None else linear_reference(
                state.data.train.x, state.data.train.y, state.data.val.x, state.data.val.y, task,
                state.spec.loss == "auto"),
        }

    def state_dict(self) -> dict[str, Any]:
        """The samples so far, so a resumed run's diagnosis covers the whole run."""
        return {"samples": self.samples}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        validate_state(MonitorState, saved, "Monitor")
        self.samples = saved["samples"]

    def sampled(self, state: State) -> bool:
        """Whether the current step is one to measure."""
        return state.step % self.period == 0

    def on_batch_start(self, state: State) -> None:
        if not self.sampled(state):
            return
        self.stats = {}
        for name, module in self.activations.items():
            self.hooks.append(module.register_forward_hook(self._watch(name, module)))

    def _watch(self, name: str, module: nn.Module) -> Any:
        squashing = isinstance(module, SQUASHING)
        low = -0.99 if isinstance(module, nn.Tanh) else 0.01

        def hook(_module: nn.Module, _inputs: Any, out: torch.Tensor) -> None:
            out = out.detach().float()
            flat = out.transpose(0, 1).reshape(out.shape[1], -1) if out.dim() > 1 else out.reshape(1, -1)  # (units, B*...)
            if squashing:
                share = ((out <= low) | (out >= 0.99)).float().mean()
            else:
                share = (flat.abs().amax(dim=1) <= 1e-8).float().mean()  # units silent on the whole batch
            self.stats[name] = torch.stack([out.mean(), out.std(), share])

        return hook

    def on_after_backward(self, state: State) -> None:
        if not self.sampled(state):
            return
        for handle in self.hooks:
            handle.remove()
        self.hooks = []
        grads = [p.grad.detach().norm() if p.grad is not None else torch.zeros((), device=p.device)
                 for p in self.weights.values()]
        norms = [p.detach().norm() for p in self.weights.values()]
        self.before = {name: p.detach().clone() for name, p in self.weights.items()}
        loss = float(state.loss.detach())
        grad_values = torch.stack(grads).tolist() if grads else []
        self.sample = {
            "step": state.step, "epoch": state.epoch + 1, "loss": loss,
            "grad_norm": dict(zip(self.weights, grad_values)),
            "weight_norm": dict(zip(self.weights, torch.stack(norms).tolist() if norms else [])),
            "activations": {name: dict(zip(("mean", "std", "fraction"), s.tolist())) for name, s in self.stats.items()},
        }
        if not math.isfinite(loss) or not all(math.isfinite(g) for g in grad_values):
            self.samples.append({**self.sample, "update_ratio": {}})
            raise TrainingDiverged(diverged_message(self.sample, self.samples[:-1]))

    def on_batch_end(self, state: State) -> None:
        if self.sample is None:
            return
        ratios = [(p.detach() - self.before[name]).norm() / (self.before[name].norm() + 1e-12)
                  for name, p in self.weights.items()]
        self.sample["update_ratio"] = dict(zip(self.weights, torch.stack(ratios).tolist() if ratios else []))
        self.samples.append(self.sample)
        self.sample, self.before = None, {}

    def on_train_end(self, state: State) -> None:
        self.context["stop_reason"] = state.stop_reason  # e.g. early stopping on val_loss
        self.context["restore_best"] = state.spec.restore_best
        for handle in self.hooks:
            handle.remove()
        self.hooks = []

    def record(self) -> dict[str, Any]:
        """What monitor.json holds: the run's context and every sample."""
        return {**self.context, "samples": self.samples}


def diverged_message(sample: dict[str, Any], earlier: list[dict[str, Any]]) -> str:
    """Name the step, the loss and the layer whose gradients blew up (non-finite, or grew the most)."""
    grads = sample["grad_norm"]
    bad = [name for name, g in grads.items() if not math.isfinite(g)]
    if bad:
        layer, why = bad[-1], f"its gradient norm is {grads[bad[-1]]}"
    elif earlier and grads:
        prev = earlier[-1]["grad_norm"]
        layer = max(grads, key=lambda n: grads[n] / max(prev.get(n, 0.0), 1e-12))
        why = f"its gradient norm grew from {prev.get(layer, 0.0):.3g} to {grads[layer]:.3g}"
    else:
        layer = max(grads, key=grads.get) if grads else "?"
        why = f"its gradient norm is {grads.get(layer, float('nan')):.3g}"
    return (f"the training loss became {sample['loss']} at step {sample['step']} (epoch {sample['epoch']}); "
            f"layer {layer} blew up ({why}); lower train.optimizer.lr or set train.clip_norm "
            "(lamina train CONFIG --remedy does both)")
