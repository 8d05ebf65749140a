"""The DPO and reward-model losses on packed pairs: exact values where they are known."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from lamina.lm.pairs import Pair, pair_tensors
from lamina.lm.preference import RewardModel, dpo_terms, reward_terms
from lamina.lm.tokenize import CharTokenizer
from lamina.nn.models.language import GPT, GPTOptions

PAIRS = [Pair("the cat was ", "merry.", "grim."), Pair("a dog was ", "sunny.", "gray and sad.")]


@torch.no_grad()
def test_dpo_starts_at_log_two_and_its_nll_term_scores_only_the_chosen_ending() -> None:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.fit("".join(p.prompt + p.chosen + p.rejected for p in PAIRS) + "\n")
    policy = GPT(tokenizer.vocab, GPTOptions(layers=1, heads=2, width=16, context=24))
    x, y = pair_tensors(PAIRS, tokenizer, context=24)
    loss, margin = dpo_terms(policy, copy.deepcopy(policy), x, y, beta=0.1, nll=0.0)
    assert torch.allclose(margin, torch.zeros(2), atol=1e-5) and math.isclose(float(loss), math.log(2), rel_tol=1e-5)

    with_nll, _ = dpo_terms(policy, copy.deepcopy(policy), x, y, beta=0.1, nll=1.0)
    per_token = []
    for p in PAIRS:  # the chosen ending and its newline, predicted from everything before each token
        ids = tokenizer.encode(p.prompt + p.chosen + "\n")
        logits = policy(ids[:-1].unsqueeze(0))[0]
        per_token.append(F.cross_entropy(logits[len(p.prompt) - 1 :], ids[len(p.prompt) :]))
    assert math.isclose(float(with_nll), math.log(2) + float(torch.stack(per_token).mean()), rel_tol=1e-5)


@torch.no_grad()
def test_the_reward_ignores_padding_and_the_loss_is_bradley_terry() -> None:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.fit("".join(p.prompt + p.chosen + p.rejected for p in PAIRS) + "\n")
    model = RewardModel(tokenizer.vocab, width=16, heads=2, max_length=40).eval()
    x, y = pair_tensors(PAIRS, tokenizer, context=39)
    loss, difference = reward_terms(model, x, y)
    _, alone = reward_terms(model, x[:1], y[:1])  # the first pair alone: no padding after its longer text
    assert x.shape[-1] > int(y[0, 1:].max())  # in the batch it was padded
    assert torch.allclose(difference[:1], alone, atol=1e-5) and float(difference.abs().min()) > 0
    assert math.isclose(float(loss), float(-F.logsigmoid(difference).mean()), rel_tol=1e-6)
