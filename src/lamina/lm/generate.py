"""Load a language-model run folder and sample text from it (temperature, top-k, top-p)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lamina.errors import ConfigError, DataError, RunFolderError
from lamina.files import load_tensors
from lamina.lm.config import (LMSpec, PreferenceSpec, is_language_config, is_preference_config, parse_lm_spec,
                              parse_preference_spec)
from lamina.lm.tokenize import Tokenizer, load_tokenizer
from lamina.nn.models.language import GPT
from lamina.runs import RunFolder


@dataclass
class LanguageRun:
    """A trained language model with its spec and tokenizer, rebuilt from a run folder."""

    folder: RunFolder
    spec: LMSpec | PreferenceSpec  # a preference (DPO) run's spec holds the model size it tuned
    tokenizer: Tokenizer
    model: GPT


def is_tuned_language_config(raw: object) -> bool:
    """Whether plain config data is a DPO run's (a language model tuned on preference pairs)."""
    return is_preference_config(raw) and isinstance(raw["preference"], dict) and \
        raw["preference"].get("method", "dpo") == "dpo"


def is_language_run(run: str | Path) -> bool:
    """Whether ``run`` is a language-model run folder (``task: language_model`` or DPO), so ``generate`` samples text."""
    folder = RunFolder(run)
    if not folder.config.is_file():
        return False
    raw = folder.read_config()
    return is_language_config(raw) or is_tuned_language_config(raw)


def load_language_run(run: str | Path) -> LanguageRun:
    """Rebuild a language-model run (config.yaml, preprocess.json, tokenizer.json for BPE, model.safetensors).

    Everything is JSON, YAML or safetensors: nothing is unpickled.
    """
    folder = RunFolder(run)
    raw = folder.read_config()
    if not is_language_config(raw) and not is_tuned_language_config(raw):
        raise RunFolderError(f"{folder.root} is not a language-model run (its config.yaml has no task: language_model "
                             "and no preference section of method dpo)")
    try:
        spec = parse_lm_spec(raw, str(folder.config)) if is_language_config(raw) else \
            parse_preference_spec(raw, str(folder.config))
    except ConfigError as exc:
        raise RunFolderError(str(exc)) from None
    if spec.model is None:
        raise RunFolderError(f"{folder.config} has no model section: the run never started training")
    tokenizer = load_tokenizer(folder.preprocess)
    model = GPT(tokenizer.vocab, spec.model)
    weights = load_tensors(folder.weights)
    weights["head.weight"] = weights.get("embed.weight", torch.empty(0))  # tied: stored once
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise RunFolderError(f"{folder.weights} does not match {folder.config}: {str(exc).splitlines()[0]}") from None
    return LanguageRun(folder, spec, tokenizer, model.eval())


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Keep the ``top_k`` most likely tokens and the smallest set whose probability reaches ``top_p``; -inf elsewhere.

    ``logits`` is (B, V). The most likely token always stays, so sampling never runs out of choices.
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)  # (B, V)
        before = ordered.softmax(-1).cumsum(-1) - ordered.softmax(-1)  # probability mass ranked above each token
        drop = (before >= top_p).scatter(-1, order, before >= top_p)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def sample(model: GPT, ids: torch.Tensor, tokens: int, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Extend ``ids`` (B, T) by ``tokens`` sampled tokens; temperature 0 picks the most likely token (greedy)."""
    model.eval()
    for _ in range(tokens):
        logits = model(ids[:, -model.context :])[:, -1]  # (B, V)
        if temperature == 0:
            nxt = logits.argmax(-1, keepdim=True)  # (B, 1)
        else:
            probs = filter_logits(logits / temperature, top_k, top_p).softmax(-1)  # (B, V)
            nxt = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
        ids = torch.cat([ids, nxt], dim=1)  # (B, T + 1)
    return ids


def generate_text(run: str | Path | LanguageRun, prompt: str, tokens: int = 200, temperature: float = 0.8,
                  top_k: int | None = None, top_p: float | None = None, samples: int = 1, seed: int = 0) -> list[str]:
    """``samples`` continuations of ``prompt`` (prompt included) from a language-model run."""
    if tokens < 1 or samples < 1:
        raise DataError(f"tokens and samples must be positive; got tokens={tokens}, samples={samples}")
    if temperature < 0:
        raise DataError(f"temperature must be >= 0; got {temperature}")
    if top_k is not None and top_k < 1:
        raise DataError(f"top_k must be a positive integer; got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise DataError(f"top_p must be in (0, 1]; got {top_p}")
    lm = run if isinstance(run, LanguageRun) else load_language_run(run)
    if not prompt:
        raise DataError("prompt must hold at least one character")
    ids = lm.tokenizer.encode(prompt, "prompt").unsqueeze(0).repeat(samples, 1)  # (N, T)
    out = sample(lm.model, ids, tokens, temperature, top_k, top_p, torch.Generator().manual_seed(seed))
    return [lm.tokenizer.decode(row) for row in out]
