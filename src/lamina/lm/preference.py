"""Preference learning's two steps, run by :func:`lamina.train.loop.fit`: a reward model and DPO.

A batch is preference pairs as :func:`lamina.lm.pairs.pair_tensors` packs them: ids (B, 2, L) of
prompt + chosen and prompt + rejected, and lengths (B, 3) (the prompt's, each sequence's).

    Preference (reward model, Bradley-Terry):
        r = reward(chosen), reward(rejected)             -> loss = -log sigmoid(r_chosen - r_rejected)
    DPO (Rafailov et al. 2023) of a policy against a frozen reference:
        margin = [log pi(chosen) - log pi(rejected)] - [log ref(chosen) - log ref(rejected)]   (endings only)
        loss = -log sigmoid(beta * margin) - nll * log pi(chosen) per token (RPO, Pang et al. 2024)
               + text_mix * next-token loss on random windows of the reference's training text

The windows' offsets come from torch's global generator, which checkpoints save, so a resumed
run draws the same ones. Validation: the same losses on held-out pairs, the fraction of pairs
ranked right, and (DPO, with text) the validation text's perplexity.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from lamina.lm.corpus import random_windows, tiled_windows
from lamina.nn.models.language import GPT
from lamina.nn.models.reward import RewardModel
from lamina.train.steps import Step

if TYPE_CHECKING:
    from lamina.train.loop import State

EVAL_BATCH = 64  # pairs or windows per validation forward


def trimmed(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both sequences of every pair as rows (2B, L'), cut to the batch's longest; their prompt and full lengths."""
    width = int(y[:, 1:].max())
    return x[:, :, :width].flatten(0, 1), y[:, 0].repeat_interleave(2), y[:, 1:].flatten()  # (2B, L'), (2B,), (2B,)


def ending_logprob(model: nn.Module, ids: torch.Tensor, start: torch.Tensor, end: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probability (N,) of each row's tokens ``start:end`` (its ending) under ``model``, and their count."""
    logp = model(ids[:, :-1]).float().log_softmax(-1)  # (N, L-1, V)
    token = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (N, L-1): log p of each next token
    position = torch.arange(ids.shape[1] - 1, device=ids.device)  # predicting token position + 1
    scored = (position >= start.unsqueeze(1) - 1) & (position < end.unsqueeze(1) - 1)  # (N, L-1)
    return (token * scored).sum(1), scored.sum(1)  # (N,), (N,)


def dpo_terms(policy: nn.Module, reference: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, nll: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's DPO loss (plus ``nll`` times the chosen endings' per-token NLL) and each pair's margin (B,)."""
    ids, start, end = trimmed(x, y)
    with torch.no_grad():
        ref, _ = ending_logprob(reference, ids, start, end)
    logp, count = ending_logprob(policy, ids, start, end)
    logp, ref, count = logp.view(-1, 2), ref.view(-1, 2), count.view(-1, 2)  # (B, 2): chosen, rejected
    margin = (logp[:, 0] - logp[:, 1]) - (ref[:, 0] - ref[:, 1])  # (B,)
    loss = -F.logsigmoid(beta * margin).mean() - nll * (logp[:, 0] / count[:, 0]).mean()
    return loss, margin


def reward_terms(model: RewardModel, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's Bradley-Terry loss and each pair's reward difference r(chosen) - r(rejected) (B,)."""
    ids, _, end = trimmed(x, y)
    padding = torch.arange(ids.shape[1], device=ids.device) >= end.unsqueeze(1)  # (2B, L')
    r = model(ids, padding).float().view(-1, 2)  # (B, 2)
    difference = r[:, 0] - r[:, 1]
    return -F.logsigmoid(difference).mean(), difference


class Preference(Step):
    """One batch of pairs for a :class:`RewardModel`: the Bradley-Terry loss, one update."""

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        with state.autocast:
            loss, _ = reward_terms(state.net, *batch)
        state.update(loss)
        return loss

    @torch.no_grad()
    def validate(self, state: State) -> dict[str, float]:
        split = state.data.val
        if not len(split):
            return {}
        return reward_scores(state.model, split.x, split.y, state.device)


@torch.no_grad()
def reward_scores(model: RewardModel, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> dict[str, float]:
    """A reward model's Bradley-Terry loss and pair accuracy over pairs ``x``/``y``, in eval mode.

    The one scorer of validation pairs: each epoch's logs, the run's summary.json and ``lamina evaluate``.
    """
    model.eval()
    out = [reward_terms(model, xs.to(device), ys.to(device)) for xs, ys in zip(x.split(EVAL_BATCH), y.split(EVAL_BATCH))]
    return pair_logs(out, len(x))


class DPO(Step):
    """One batch of pairs for a GPT policy against its frozen ``reference`` (see the module's docstring).

    ``text`` (token ids of the reference's training text) adds ``text_mix`` times the next-token loss on
    random windows of it; ``val_text`` is scored for the validation perplexity.
    """

    def __init__(self, reference: GPT, beta: float, nll: float, text_mix: float = 0.0,
                 text: torch.Tensor | None = None, val_text: torch.Tensor | None = None) -> None:
        self.reference, self.beta, self.nll, self.text_mix = reference, beta, nll, text_mix
        self.text, self.val_text = text, val_text

    def start(self, state: State) -> None:
        self.reference.to(state.device).eval().requires_grad_(False)
        if self.text is not None:
            self.text = self.text.to(state.device)

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        with state.autocast:
            loss, _ = dpo_terms(state.net, self.reference, *batch, self.beta, self.nll)
            if self.text_mix and self.text is not None:
                context = state.model.context
                x, y = random_windows(self.text, context, len(batch[0]), None)  # (B, T), (B, T)
                loss = loss + self.text_mix * F.cross_entropy(state.net(x).float().flatten(0, 1), y.flatten())
        state.update(loss)
        return loss

    @torch.no_grad()
    def validate(self, state: State) -> dict[str, float]:
        state.model.eval()
        logs: dict[str, float] = {}
        split = state.data.val
        if len(split):
            out = [dpo_terms(state.model, self.reference, x.to(state.device), y.to(state.device), self.beta, self.nll)
                   for x, y in zip(split.x.split(EVAL_BATCH), split.y.split(EVAL_BATCH))]
            logs.update(pair_logs(out, len(split)))
        if self.val_text is not None:
            logs["val_perplexity"] = math.exp(text_loss(state.model, self.val_text, state.device))
        return logs


def pair_logs(batches: list[tuple[torch.Tensor, torch.Tensor]], count: int) -> dict[str, float]:
    """Validation logs from (loss, margins) per chunk: the mean loss and the fraction of pairs ranked right."""
    loss = sum(float(loss) * len(margin) for loss, margin in batches) / count
    right = sum(int((margin > 0).sum()) for _, margin in batches)
    return {"val_loss": loss, "val_pair_accuracy": right / count}


@torch.no_grad()
def text_loss(model: GPT, ids: torch.Tensor, device: torch.device) -> float:
    """Mean next-token cross-entropy (nats per token) over ``ids``, every token scored once, in eval mode."""
    x, y = tiled_windows(ids, model.context)  # (N, T), (N, T)
    total = 0.0
    for xs, ys in zip(x.split(EVAL_BATCH), y.split(EVAL_BATCH)):
        logits = model(xs.to(device)).float()  # (n, T, V)
        total += float(F.cross_entropy(logits.flatten(0, 1), ys.to(device).flatten(), reduction="sum"))
    return total / y.numel()

