"""The builtin preference task ("cheerful endings"), whose preferred property code can check.

A corpus of short lines ``<who> <did> the <what> and it was <adjective>.`` where half the
adjectives are cheerful and half gloomy. A language model trained on it (the reference) ends a
prompt ``<who> <did> the <what> and it was`` cheerfully about half the time. Preference pairs are
two sampled endings of one prompt, the cheerful one chosen (the check is code: :func:`is_cheerful`),
written as the JSONL any user's pairs come in and tuned on through the same path
(:func:`lamina.lm.preference_run.train_preference`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from lamina.files import atomic_write_text
from lamina.lm.pairs import Pair
from lamina.lm.tokenize import Tokenizer
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
def sample_endings(model: GPT, tokenizer: Tokenizer, texts: list[str], length: int, seed: int,
                   temperature: float = 1.0) -> list[str]:
    """One sampled ending per prompt, cut at the first newline (at most ``length`` tokens).

    Prompts of one length are sampled together as one batch (the same draws whatever the thread count).
    """
    model.eval()
    g = torch.Generator().manual_seed(seed)
    encoded = [tokenizer.encode(prompt, "prompt") for prompt in texts]
    out = [""] * len(texts)
    for size in sorted({len(ids) for ids in encoded}):
        rows = [i for i, ids in enumerate(encoded) if len(ids) == size]
        ids = torch.stack([encoded[i] for i in rows])  # (N, T)
        for _ in range(length):
            logits = model(ids[:, -model.context :])[:, -1] / temperature  # (N, V)
            ids = torch.cat([ids, torch.multinomial(logits.softmax(-1), 1, generator=g)], dim=1)  # (N, T + 1)
        for i, row in zip(rows, ids):
            out[i] = tokenizer.decode(row[size:]).split("\n")[0]
    return out


def cheerful_fraction(model: GPT, tokenizer: Tokenizer, texts: list[str], seed: int) -> float:
    """Fraction of sampled endings (temperature 1) with the preferred property."""
    endings = sample_endings(model, tokenizer, texts, length=10, seed=seed)
    return sum(map(is_cheerful, endings)) / len(endings)


def preference_pairs(model: GPT, tokenizer: Tokenizer, texts: list[str], seed: int) -> list[Pair]:
    """Two sampled endings per prompt; where exactly one is cheerful, it is chosen (labelled by code)."""
    first = sample_endings(model, tokenizer, texts, 10, seed)
    second = sample_endings(model, tokenizer, texts, 10, seed + 1)
    pairs = []
    for prompt, a, b in zip(texts, first, second):
        if is_cheerful(a) != is_cheerful(b):
            pairs.append(Pair(prompt, a, b) if is_cheerful(a) else Pair(prompt, b, a))
    return pairs


def held_out_prompts(seed: int, n: int) -> list[str]:
    """``n`` prompts none of which is among the ``pair_prompts(seed)`` that pairs are sampled for."""
    seen = set(pair_prompts(seed))
    return [p for p in prompts(seed + 1000, n * 3) if p not in seen][:n]


def pair_prompts(seed: int) -> list[str]:
    """The prompts whose sampled endings become the task's preference pairs."""
    return prompts(seed + 2000, 300)


def train_reference(workdir: str | Path, seed: int = 0, steps: int = 500, progress: str = "none") -> Path:
    """Write the task's corpus under ``workdir`` and train the reference char LM on it; its run folder."""
    from lamina.lm.train import train_lm

    workdir = Path(workdir)
    text = workdir / "cheerful.txt"
    atomic_write_text(text, corpus_text(seed, 3000))
    return train_lm({"task": "language_model", "name": "cheerful-reference", "seed": seed,
                     "runs_dir": str(workdir / "runs"), "data": {"path": str(text)},
                     "model": {"layers": 2, "heads": 2, "width": 64, "context": 64},
                     "train": {"steps": steps, "batch_size": 32, "eval_every": steps,
                               "optimizer": {"name": "adamw", "lr": 0.005, "weight_decay": 0.1,
                                             "betas": [0.9, 0.99]}}}, progress=progress)


def cheerful_task(workdir: str | Path, seed: int = 0, sft_steps: int = 500, held_out: int = 200) -> dict[str, Any]:
    """The builtin preference task end to end, the way a user's pairs go; returns what it measured.

    Trains the reference language model, samples pairs labelled by :func:`is_cheerful` on training
    prompts into ``pairs.jsonl``, fits a reward model and tunes by DPO on them (run folders under
    ``workdir/runs``), and measures on ``held_out`` unseen prompts the fraction of cheerful endings
    before and after, beside the reward model's held-out pair accuracy and both validation perplexities.
    """
    from lamina.files import read_json
    from lamina.lm.generate import load_language_run
    from lamina.lm.pairs import write_pairs
    from lamina.lm.preference_run import train_preference

    workdir = Path(workdir)
    reference = load_language_run(train_reference(workdir, seed, sft_steps))
    pairs = preference_pairs(reference.model, reference.tokenizer, pair_prompts(seed), seed + 3)
    write_pairs(workdir / "pairs.jsonl", pairs)
    common = {"seed": seed, "runs_dir": str(workdir / "runs"),
              "preference": {"pairs": str(workdir / "pairs.jsonl"), "reference": str(reference.folder.root)}}
    reward = train_preference(common | {"name": "cheerful-reward", "preference": common["preference"] | {
        "method": "reward"}, "train": {"epochs": 6, "optimizer": {"lr": 3e-3}, "tensorboard": False}},
        progress="none")
    tuned = train_preference(common | {"name": "cheerful-dpo", "train": {
        "epochs": 5, "optimizer": {"lr": 5e-4}, "tensorboard": False}}, progress="none")
    test = held_out_prompts(seed, held_out)
    done = read_json(tuned / "summary.json")
    return {"pairs": len(pairs),
            "reward_pair_accuracy": read_json(reward / "summary.json")["final_epoch"]["val_pair_accuracy"],
            "preferred_before": cheerful_fraction(reference.model, reference.tokenizer, test, seed + 7),
            "preferred_after": cheerful_fraction(load_language_run(tuned).model, reference.tokenizer, test, seed + 7),
            "val_perplexity_reference": done["reference_val_perplexity"], "val_perplexity_tuned": done["val_perplexity"]}

