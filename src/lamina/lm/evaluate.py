"""``lamina evaluate`` on a language-model, DPO or reward-model run folder, from the folder alone.

- language model: loss (nats per token), perplexity and bits per character over the whole held-out
  text (the last ``data.val`` share of the training file), every token scored once;
- DPO run: the same three over its reference run's held-out text (what tuning must not spoil);
- reward model: Bradley-Terry loss and pair accuracy on its validation pairs (the last ``preference.val``).

Each equals what training wrote into summary.json's ``val``: the same functions score both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lamina.errors import RunFolderError
from lamina.evaluate.run import RUN_KINDS, RunKind, raw_config
from lamina.lm.config import is_language_config
from lamina.lm.corpus import load_corpus
from lamina.lm.generate import is_tuned_language_config, load_language_run
from lamina.lm.preference import reward_scores
from lamina.lm.preference_run import held_out_text, load_reward_run, pair_split
from lamina.lm.train import validation_metrics
from lamina.runs import RunFolder


def evaluate_language_model(folder: RunFolder) -> dict[str, Any]:
    """Loss, perplexity and bits per character of a language-model run over its held-out text."""
    run = load_language_run(folder.root)
    data, context = run.spec.data, run.model.context
    if not Path(data.path).is_file():
        raise RunFolderError(f"{folder.config}: data.path {data.path}, the run's text, is missing; restore it to "
                             "score the held-out part")
    corpus = load_corpus(data.path, data.val, context, fitted=run.tokenizer)
    return {"kind": "language_model", "split": "val", "samples": len(corpus.val),
            "metrics": validation_metrics(run.model, corpus, context),
            "scored": f"the held-out text: the last {data.val:g} of {data.path} ({len(corpus.val)} tokens)"}


def evaluate_dpo(folder: RunFolder) -> dict[str, Any]:
    """Loss, perplexity and bits per character of a DPO run over its reference run's held-out text."""
    run = load_language_run(folder.root)
    reference = run.spec.preference.reference
    try:
        corpus = held_out_text(load_language_run(reference))
    except RunFolderError as exc:
        raise RunFolderError(f"{folder.config}: preference.reference {reference} cannot be read: {exc}") from None
    if corpus is None:
        raise RunFolderError(f"{folder.config}: the reference run {reference} has no training text to hold out "
                             "(a DPO run's figures are its reference's held-out text)")
    return {"kind": "dpo", "split": "val", "samples": len(corpus.val),
            "metrics": validation_metrics(run.model, corpus, run.model.context),
            "scored": f"the reference run's held-out text ({len(corpus.val)} tokens)"}


def evaluate_reward(folder: RunFolder) -> dict[str, Any]:
    """Bradley-Terry loss and pair accuracy of a reward-model run on its validation pairs."""
    from lamina.lm.config import parse_preference_spec

    model, tokenizer = load_reward_run(folder.root)
    spec = parse_preference_spec(folder.read_config(), str(folder.config))
    if not Path(spec.preference.pairs).is_file():
        raise RunFolderError(f"{folder.config}: preference.pairs {spec.preference.pairs} is missing; restore it "
                             "to score the validation pairs")
    x, y, cut = pair_split(spec, tokenizer, spec.model.context)
    if cut == len(x):
        raise RunFolderError(f"{folder.config}: preference.val is 0, so the run has no validation pairs to score")
    return {"kind": "reward", "split": "val", "samples": len(x) - cut,
            "metrics": reward_scores(model, x[cut:], y[cut:], torch.device("cpu")),
            "scored": f"the validation pairs: the last {len(x) - cut} of {spec.preference.pairs}"}


def _method(folder: RunFolder) -> str | None:
    """The folder's preference.method (dpo when a preference section leaves it out), or None."""
    raw = raw_config(folder)
    if is_tuned_language_config(raw):
        return "dpo"
    preference = raw.get("preference")
    return preference.get("method") if isinstance(preference, dict) else None


RUN_KINDS.add("language_model", RunKind(lambda f: is_language_config(raw_config(f)), evaluate_language_model),
              "GPT language model: held-out loss, perplexity, bits per character")
RUN_KINDS.add("dpo", RunKind(lambda f: _method(f) == "dpo", evaluate_dpo),
              "DPO-tuned language model: its reference's held-out loss, perplexity, bits per character")
RUN_KINDS.add("reward", RunKind(lambda f: _method(f) == "reward", evaluate_reward),
              "reward model: validation pair accuracy and loss")
