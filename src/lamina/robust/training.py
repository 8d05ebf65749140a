"""Adversarial training as a loop callback: attacks enter through ``on_batch_start``.

* ``fgsm`` (with random start, "fast is better than free") and ``pgd`` (Madry et
  al.) replace each training batch by its adversarial version, so the loop's
  ordinary loss is the adversarial loss.
* ``trades`` (Zhang et al.) keeps the clean batch and its loss, and in
  ``on_loss`` adds ``beta * KL(model(x_adv) || model(x))``, with ``x_adv``
  found by maximizing that same KL term.

Examples are generated with the model in eval mode (batchnorm statistics and
dropout stay fixed while attacking), then the loop trains as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from lamina.config import AdversarialSpec
from lamina.robust.attacks import Bounds, fgsm, pgd
from lamina.train.callbacks import Callback

if TYPE_CHECKING:
    from lamina.train.loop import State


class AdversarialTraining(Callback):
    """Replace each training batch by FGSM or PGD examples built against the current model."""

    def __init__(self, spec: AdversarialSpec, bounds: Bounds | None, seed: int = 0) -> None:
        self.spec, self.bounds = spec, bounds
        self.generator = torch.Generator().manual_seed(seed)

    def generators(self) -> dict[str, torch.Generator]:
        """The attack's random-start generator, saved in checkpoints."""
        return {"attack": self.generator}

    def eps_now(self, state: State) -> float:
        """eps, grown linearly over the first ``ramp_epochs`` epochs (counted in steps)."""
        ramp_steps = self.spec.ramp_epochs * state.steps_per_epoch
        if ramp_steps <= 0:
            return self.spec.eps
        return self.spec.eps * min(1.0, (state.step + 1) / ramp_steps)

    def adversarial(self, state: State, loss_fn, target) -> torch.Tensor:
        """Attack the current batch with the model in eval mode; the model's mode is restored after."""
        s = self.spec
        eps = self.eps_now(state)
        step_size = s.step_size * eps / s.eps if s.step_size is not None else None
        was_training = state.model.training
        state.model.eval()
        try:
            if s.method == "fgsm":
                return fgsm(state.model, state.xb, target, eps, norm=s.norm, random_start=s.random_start,
                            step_size=step_size, bounds=self.bounds, loss_fn=loss_fn, generator=self.generator)
            return pgd(state.model, state.xb, target, eps, steps=s.steps, step_size=step_size, norm=s.norm,
                       random_start=s.random_start, bounds=self.bounds, loss_fn=loss_fn, generator=self.generator)
        finally:
            state.model.train(was_training)

    def on_batch_start(self, state: State) -> None:
        state.xb = self.adversarial(state, state.loss_fn, state.yb)


class Trades(AdversarialTraining):
    """TRADES: clean loss plus ``beta`` times the KL divergence between adversarial and clean predictions."""

    x_adv: torch.Tensor | None = None

    def on_batch_start(self, state: State) -> None:
        was_training = state.model.training
        state.model.eval()
        with torch.no_grad():
            clean = log_probs(state.model(state.xb))
        state.model.train(was_training)
        self.x_adv = self.adversarial(state, kl_to, clean)

    def on_loss(self, state: State) -> None:
        clean = log_probs(state.outputs)
        state.objective = state.objective + self.spec.beta * kl_to(state.model(self.x_adv), clean)


def log_probs(outputs: torch.Tensor) -> torch.Tensor:
    """Log class probabilities: log-softmax over logits, or [log(1-p), log p] for one binary logit."""
    if outputs.dim() == 2 and outputs.shape[1] == 1:
        return torch.cat([F.logsigmoid(-outputs), F.logsigmoid(outputs)], dim=1)
    return F.log_softmax(outputs, dim=1)


def kl_to(outputs: torch.Tensor, reference_log_probs: torch.Tensor) -> torch.Tensor:
    """KL(reference || prediction) averaged over the batch (TRADES' robustness term)."""
    return F.kl_div(log_probs(outputs), reference_log_probs, reduction="batchmean", log_target=True)


def adversarial_callback(spec: AdversarialSpec, bounds: Bounds | None, seed: int = 0) -> AdversarialTraining:
    """The callback for ``train.adversarial``."""
    cls = Trades if spec.method == "trades" else AdversarialTraining
    return cls(spec, bounds, seed)
