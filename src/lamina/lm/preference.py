"""Preference tuning: a builtin task whose preferred property code can check, a reward model, and DPO.

The task ("cheerful endings"): a corpus of short lines ``<who> <did> the <what> and it was <adjective>.``
where half the adjectives are cheerful and half gloomy. A language model trained on it (the
reference) ends a prompt ``<who> <did> the <what> and it was`` cheerfully about half the time.
Preference pairs are two sampled endings of one prompt, the cheerful one chosen (the check
is code: :func:`is_cheerful`). A reward model learns those preferences (Bradley-Terry), and
DPO (Rafailov et al. 2023) tunes a copy of the reference on the pairs against the frozen
reference, so cheerful endings become likely while the rest of the language stays close.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lamina.files import atomic_write_text
from lamina.lm.corpus import random_windows
from lamina.lm.tokenize import CharTokenizer
from lamina.nn.attention import BlockArgs, EncoderBlock
from lamina.nn.models.language import GPT

WHO = ["the cat", "my aunt", "a sailor", "the king", "our dog", "the baker", "a child", "the queen", "his friend",
       "the farmer", "a poet", "the judge", "her brother", "the miller", "a knight", "the nurse"]
DID = ["saw", "ate", "found", "painted", "sold", "cleaned", "opened", "lost", "carried", "fixed", "read", "wore"]
WHAT = ["cake", "boat", "letter", "garden", "lamp", "coat", "door", "song", "map", "ring", "wall", "hat"]
CHEERFUL = ["bright", "lovely", "merry", "sunny", "joyful", "sweet"]
GLOOMY = ["dull", "grim", "dreary", "sad", "bleak", "gray"]
STEM = " and it was "


def is_cheerful(ending: str) -> bool:
    """The preferred property: the ending's first word is one of the cheerful adjectives."""
    words = ending.strip().replace(".", " ").split()
    return bool(words) and words[0] in CHEERFUL


def prompts(seed: int, n: int) -> list[str]:
    """``n`` prompts ``<who> <did> the <what> and it was`` (drawn with replacement)."""
    rng = random.Random(seed)
    return [f"{rng.choice(WHO)} {rng.choice(DID)} the {rng.choice(WHAT)}{STEM}" for _ in range(n)]


def corpus_text(seed: int, lines: int) -> str:
    """The task's corpus: ``lines`` lines, each ending cheerfully or gloomily with equal chance."""
    rng = random.Random(seed)
    return "".join(f"{p}{rng.choice(CHEERFUL + GLOOMY)}.\n" for p in prompts(seed + 1, lines))


@torch.no_grad()
def sample_endings(model: GPT, tokenizer: CharTokenizer, texts: list[str], length: int, seed: int,
                   temperature: float = 1.0) -> list[str]:
    """One sampled ending per prompt, cut at the first newline (at most ``length`` characters)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    out = []
    for prompt in texts:
        ids = tokenizer.encode(prompt, "prompt").unsqueeze(0)  # (1, T)
        for _ in range(length):
            logits = model(ids[:, -model.context :])[:, -1] / temperature  # (1, V)
            ids = torch.cat([ids, torch.multinomial(logits.softmax(-1), 1, generator=g)], dim=1)
        out.append(tokenizer.decode(ids[0, len(prompt) :]).split("\n")[0])
    return out


def cheerful_fraction(model: GPT, tokenizer: CharTokenizer, texts: list[str], seed: int) -> float:
    """Fraction of sampled endings (temperature 1) with the preferred property."""
    endings = sample_endings(model, tokenizer, texts, length=10, seed=seed)
    return sum(map(is_cheerful, endings)) / len(endings)


@dataclass
class Pair:
    """One preference: for ``prompt``, ``chosen`` is preferred over ``rejected``."""

    prompt: str
    chosen: str
    rejected: str


def preference_pairs(model: GPT, tokenizer: CharTokenizer, texts: list[str], seed: int) -> list[Pair]:
    """Two sampled endings per prompt; where exactly one is cheerful, it is chosen (labelled by code)."""
    first = sample_endings(model, tokenizer, texts, 10, seed)
    second = sample_endings(model, tokenizer, texts, 10, seed + 1)
    pairs = []
    for prompt, a, b in zip(texts, first, second):
        if is_cheerful(a) != is_cheerful(b):
            pairs.append(Pair(prompt, a, b) if is_cheerful(a) else Pair(prompt, b, a))
    return pairs


def pack(tokenizer: CharTokenizer, prompt: str, ending: str) -> tuple[torch.Tensor, int]:
    """Ids of prompt + ending + newline and where the ending starts."""
    return tokenizer.encode(prompt + ending + "\n", "preference pair"), len(prompt)


def ending_logprob(model: GPT, batch: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
    """Summed log-probability (B,) of each sequence's ending (tokens after its prompt) under ``model``."""
    steps = max(len(ids) for ids, _ in batch)
    ids = torch.zeros(len(batch), steps, dtype=torch.long)
    scored = torch.zeros(len(batch), steps - 1)
    for row, (seq, start) in enumerate(batch):
        ids[row, : len(seq)] = seq
        scored[row, start - 1 : len(seq) - 1] = 1.0  # positions whose next token belongs to the ending
    logp = model(ids[:, :-1]).log_softmax(-1)  # (B, T-1, V)
    token = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    return (token * scored).sum(1)  # (B,)


def dpo_loss(policy: GPT, reference: GPT, chosen: list, rejected: list, beta: float, nll: float) -> torch.Tensor:
    """DPO: -log sigmoid(beta * (policy-vs-reference log-ratio of chosen - that of rejected)), batch mean.

    ``nll`` weighs an added negative log-likelihood of the chosen endings (per character), which keeps DPO
    from lowering the likelihood of good text along with the rejected (as in Pang et al. 2024's RPO).
    """
    with torch.no_grad():
        ref_margin = ending_logprob(reference, chosen) - ending_logprob(reference, rejected)  # (B,)
    good = ending_logprob(policy, chosen)  # (B,)
    margin = good - ending_logprob(policy, rejected)  # (B,)
    lengths = torch.tensor([len(ids) - start for ids, start in chosen], dtype=torch.float32)  # (B,)
    return -F.logsigmoid(beta * (margin - ref_margin)).mean() - nll * (good / lengths).mean()


def dpo_tune(reference: GPT, tokenizer: CharTokenizer, pairs: list[Pair], text: torch.Tensor | None = None,
             steps: int = 80, batch: int = 32, lr: float = 1e-4, beta: float = 0.1, nll: float = 1.0,
             seed: int = 0) -> GPT:
    """A copy of ``reference`` tuned by DPO on ``pairs``; the reference stays frozen and unchanged.

    With ``text`` (token ids of the reference's training text), each step also adds the language-model loss
    on a batch of it (InstructGPT's "pretraining mix"), so the tuned model's language stays close.
    """
    policy = copy.deepcopy(reference).train()
    reference.eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    chosen = [pack(tokenizer, p.prompt, p.chosen) for p in pairs]
    rejected = [pack(tokenizer, p.prompt, p.rejected) for p in pairs]
    for _ in range(steps):
        pick = torch.randint(len(pairs), (batch,), generator=g).tolist()
        loss = dpo_loss(policy, reference, [chosen[i] for i in pick], [rejected[i] for i in pick], beta, nll)
        if text is not None:
            x, y = random_windows(text, policy.context, batch, g)  # (B, T), (B, T)
            loss = loss + F.cross_entropy(policy(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return policy.eval()


class RewardModel(nn.Module):
    """Text -> scalar reward: character embeddings, one bidirectional encoder block, mean pooling, a linear head."""

    def __init__(self, vocab: int, width: int = 48, heads: int = 4, max_length: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Embedding(max_length, width)
        self.block = EncoderBlock(width, BlockArgs(heads=heads, dropout=0.0))
        self.head = nn.Linear(width, 1)

    def forward(self, ids: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.position(torch.arange(ids.shape[1]))  # (B, T, C)
        x = self.block(x, padding)  # (B, T, C)
        keep = (~padding).unsqueeze(-1).float()  # (B, T, 1)
        return self.head((x * keep).sum(1) / keep.sum(1)).squeeze(-1)  # (B,)


def _batch(tokenizer: CharTokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    seqs = [tokenizer.encode(t, "reward model input") for t in texts]
    ids = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
    padding = torch.ones(ids.shape, dtype=torch.bool)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)], padding[row, : len(seq)] = seq, False
    return ids, padding


def rewards(model: RewardModel, tokenizer: CharTokenizer, texts: list[str]) -> torch.Tensor:
    """The reward model's score (N,) for each full text (prompt + ending)."""
    return model(*_batch(tokenizer, texts))


def train_reward_model(tokenizer: CharTokenizer, pairs: list[Pair], steps: int = 150, batch: int = 32,
                       lr: float = 3e-3, seed: int = 0) -> RewardModel:
    """Fit a reward model to preference pairs with the Bradley-Terry loss -log sigmoid(r(chosen) - r(rejected))."""
    torch.manual_seed(seed)
    model = RewardModel(tokenizer.vocab)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        pick = torch.randint(len(pairs), (batch,), generator=g).tolist()
        good = rewards(model, tokenizer, [pairs[i].prompt + pairs[i].chosen for i in pick])
        bad = rewards(model, tokenizer, [pairs[i].prompt + pairs[i].rejected for i in pick])
        loss = -F.logsigmoid(good - bad).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def pair_accuracy(model: RewardModel, tokenizer: CharTokenizer, pairs: list[Pair]) -> float:
    """Fraction of pairs whose chosen text the reward model scores above the rejected one."""
    good = rewards(model, tokenizer, [p.prompt + p.chosen for p in pairs])
    bad = rewards(model, tokenizer, [p.prompt + p.rejected for p in pairs])
    return float((good > bad).float().mean())


def cheerful_task(workdir: str | Path, seed: int = 0, sft_steps: int = 500, held_out: int = 200) -> dict[str, float]:
    """The builtin preference task end to end; returns what it measured.

    Trains the reference language model on the task's corpus (a run folder under ``workdir``),
    samples preference pairs labelled by :func:`is_cheerful` on training prompts, fits the reward
    model (its accuracy on held-out pairs), tunes by DPO, and measures on ``held_out`` unseen
    prompts the fraction of cheerful endings before and after, and the validation perplexity of
    the reference's corpus under the reference and under the tuned model.
    """
    from lamina.lm.corpus import load_corpus, tiled_windows
    from lamina.lm.generate import load_language_run
    from lamina.lm.train import mean_loss, train_lm

    workdir = Path(workdir)
    text = workdir / "cheerful.txt"
    atomic_write_text(text, corpus_text(seed, 3000))
    root = train_lm({"task": "language_model", "name": "cheerful-reference", "seed": seed,
                     "runs_dir": str(workdir / "runs"), "data": {"path": str(text)},
                     "model": {"layers": 2, "heads": 2, "width": 64, "context": 64},
                     "train": {"steps": sft_steps, "batch_size": 32, "eval_every": sft_steps,
                               "optimizer": {"name": "adamw", "lr": 0.005, "weight_decay": 0.1,
                                             "betas": [0.9, 0.99]}}}, progress="none")
    run = load_language_run(root)
    reference, tokenizer = run.model, run.tokenizer
    corpus = load_corpus(text, run.spec.data.val, run.spec.model.context)
    test_prompts = [p for p in prompts(seed + 1000, held_out * 3) if p not in set(prompts(seed + 2000, 300))]
    test_prompts = test_prompts[:held_out]
    pairs = preference_pairs(reference, tokenizer, prompts(seed + 2000, 300), seed + 3)
    held_pairs = max(1, len(pairs) // 5)
    reward = train_reward_model(tokenizer, pairs[:-held_pairs], seed=seed)
    tuned = dpo_tune(reference, tokenizer, pairs, corpus.train, seed=seed)
    x, y = tiled_windows(corpus.val, run.spec.model.context)
    before, after = mean_loss(reference, x, y), mean_loss(tuned, x, y)
    return {
        "pairs": len(pairs),
        "reward_pair_accuracy": pair_accuracy(reward, tokenizer, pairs[-held_pairs:]),
        "preferred_before": cheerful_fraction(reference, tokenizer, test_prompts, seed + 7),
        "preferred_after": cheerful_fraction(tuned, tokenizer, test_prompts, seed + 7),
        "val_perplexity_reference": math.exp(before),
        "val_perplexity_tuned": math.exp(after),
    }
