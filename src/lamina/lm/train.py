"""Train a GPT-style language model on a text file into a run folder; score it by perplexity and bits per character.

    lamina.train.loop.fit with the next-token step (lamina.lm.nexttoken), in epochs of eval_every steps:
        random windows -> logits -> next-token cross-entropy -> state.update (clip, step, schedule)
        each epoch's end: validation loss on fixed windows -> metrics.jsonl, early stopping, checkpoints
    final: the whole validation part, every token scored once -> summary.json

So a language model gets what every family gets from the one loop: checkpoints and exact resume,
precision, accumulation, the non-finite stop, early stopping, TensorBoard and progress. The run
folder holds config.yaml, preprocess.json (the tokenizer; a BPE one also writes tokenizer.json),
model.safetensors, metrics.jsonl, checkpoints/, summary.json and report.html (figures/), and
:func:`lamina.lm.generate.load_language_run` rebuilds the model from it. Losses are nats per
token; bits per character divide the total by the characters those tokens stand for, so char
and BPE runs compare on one scale.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from lamina.data.prepare import Prepared, Split
from lamina.device import resolve_device
from lamina.errors import ConfigError
from lamina.evaluate.metrics import higher_is_better
from lamina.files import atomic_write_text, read_json, save_tensors, write_json
from lamina.lm.config import LMSpec, parse_lm_spec, read_raw_config
from lamina.lm.corpus import Corpus, load_corpus, random_windows, tiled_windows
from lamina.lm.nexttoken import NextToken, WindowBatches, mean_loss
from lamina.lm.report import sample_text, write_language_report
from lamina.lm.tokenize import save_tokenizer
from lamina.nn.models.language import GPT
from lamina.runs import RunFolder
from lamina.train.callbacks import Callback, EarlyStopping, MetricsLog, Progress, TensorBoardLog, check_monitor
from lamina.train.checkpoint import Checkpoints, load_best_weights, resume_point, versions
from lamina.train.fields import refuse_train_fields
from lamina.train.hooks import family_observers
from lamina.train.loop import TrainingDiverged, fit

# The train fields a language model cannot use: refused, naming the field, when a config sets them.
REFUSED = {"epochs": "set train.steps (an epoch here is train.eval_every steps)",
           "loss": "the next-token cross-entropy is a language model's loss",
           "label_smoothing": "the next-token loss takes no smoothing",
           "huber_delta": "the next-token cross-entropy is a language model's loss",
           "epoch_metrics": "its metrics are loss, perplexity and bits per character",
           "class_weight": "there are no classes to weight",
           "log": "language-model runs log to TensorBoard only (train.tensorboard)",
           "adversarial": "it needs a classifier", "lr_groups": "it needs a backbone",
           "selfsup": "see lamina pretrain", "augment": "text windows take no augmentation"}


def as_lm_spec(config: LMSpec | dict[str, Any] | str | Path, overrides: list[str] | None = None) -> LMSpec:
    """Accept an LMSpec, plain config data, or the path of a YAML config."""
    if isinstance(config, LMSpec):
        return config.model_copy(deep=True)
    if isinstance(config, dict):
        return parse_lm_spec(config)
    return parse_lm_spec(read_raw_config(config, overrides), f"config file {config}")


def language_metrics(loss: float, tokens: int, chars: int) -> dict[str, float]:
    """Perplexity per token and bits per character from a mean loss in nats per token over ``tokens`` tokens.

    ``chars`` is how many characters those tokens spell: a BPE token covers several, so the
    total information (loss * tokens nats) is shared out over the characters, not the tokens.
    """
    return {"loss": loss, "perplexity": math.exp(loss), "bits_per_char": loss / math.log(2) * tokens / chars}


def check_lm_train(spec: LMSpec) -> None:
    """Refuse train fields a language model cannot use, and a step budget that is not whole epochs, before training."""
    t = spec.train
    refuse_train_fields(t, REFUSED, "language_model", "task: language_model")
    if t.steps % t.eval_every:
        raise ConfigError(f"train.steps must be a multiple of train.eval_every (each epoch of eval_every steps ends "
                          f"with an evaluation); got steps {t.steps} and eval_every {t.eval_every}")


def resolved_config(spec: LMSpec) -> dict[str, Any]:
    """The config.yaml data: every default filled in, without the refused train fields (they do not apply)."""
    return spec.model_dump(mode="json", exclude={"train": set(REFUSED)})


def train_lm(config: LMSpec | dict[str, Any] | str | Path, progress: str = "auto", resume: bool = False,
             extra_callbacks: list[Callback] | None = None) -> Path:
    """Train the language model a config describes through the one loop; returns the run folder.

    ``progress`` is 'auto' (a bar on a terminal, lines otherwise), 'bar', 'plain' or 'none'. With
    ``resume``, the newest unfinished run of the config's name continues from its newest valid
    checkpoint (and ends exactly where an uninterrupted run ends). ``extra_callbacks`` join the loop's.
    """
    from lamina.trainer import unfinished_run

    spec = as_lm_spec(config)
    spec.data.path = str(Path(spec.data.path).resolve())
    check_lm_train(spec)
    t = spec.train
    if t.threads is not None:
        torch.set_num_threads(t.threads)
    device = resolve_device(t.device)
    torch.manual_seed(spec.seed)
    corpus = load_corpus(spec.data.path, spec.data.val, spec.model.context, spec.data.tokenizer, spec.data.vocab_size)
    model = GPT(corpus.tokenizer.vocab, spec.model)
    raw = resolved_config(spec)
    folder = unfinished_run(spec.runs_dir, spec.name) if resume else None
    checkpoint = None
    if folder is not None:
        if folder.preprocess.is_file() and read_json(folder.preprocess) != corpus.tokenizer.to_json():
            raise ConfigError(f"cannot resume {folder.root}: the text's vocabulary changed since the run started "
                              f"(the tokenizer fitted now differs from {folder.preprocess})")
        checkpoint, notes = resume_point(folder.checkpoints, raw)
        for note in notes if progress != "none" else []:
            print(f"note: {note}", file=sys.stderr, flush=True)
    folder = folder or RunFolder.create(spec.runs_dir, spec.name)
    atomic_write_text(folder.config, yaml.safe_dump(raw, sort_keys=False))
    save_tokenizer(corpus.tokenizer, folder.preprocess)

    probe = torch.Generator().manual_seed(spec.seed + 1)  # the same validation windows at every evaluation
    val_x, val_y = random_windows(corpus.val, spec.model.context, t.eval_batches * t.batch_size, probe)
    epochs = t.steps // t.eval_every
    batches = WindowBatches(corpus.train, spec.model.context, t.batch_size, t.eval_every, spec.seed, device)
    # the schedule spans all steps: its warmup_epochs is a share of them, as before the loop counted epochs
    loop_spec = t.model_copy(update={"epochs": epochs, "schedule": t.schedule.model_copy(
        update={"warmup_epochs": t.schedule.warmup_epochs * epochs})})
    checkpoints, callbacks = lm_callbacks(spec, folder, progress, raw)
    held_out = Split(val_x, val_y, np.arange(len(val_x)))  # the windows NextToken validates on
    windows = Split(corpus.train, corpus.train, np.arange(len(corpus.train)))  # token ids; WindowBatches cuts them
    data = Prepared(windows, held_out, held_out, None, spec.data.path)
    observers = family_observers(t, data, device)  # train.diagnose: the gradient/activation monitor
    started = time.perf_counter()
    try:
        state = fit(model, data, loop_spec, callbacks + (extra_callbacks or []) + observers.observers + [checkpoints],
                    device, seed=spec.seed, resume=checkpoint, step=NextToken(val_x, val_y), batches=batches)
    except TrainingDiverged as exc:
        observers.finish(folder.root, progress, diverged=str(exc))
        raise
    seconds = time.perf_counter() - started
    if t.restore_best and checkpoints.best is not None:
        model.load_state_dict(load_best_weights(folder.checkpoints))
    model.cpu()

    save_tensors(folder.weights, weights_of(model))
    val = validation_metrics(model, corpus, spec.model.context)
    unigram = unigram_loss(corpus.train, corpus.val)
    trained = len(state.history) * t.eval_every
    summary = {
        "name": spec.name, "task": spec.task, "data": spec.data.path,
        "tokens": {"train": len(corpus.train), "val": len(corpus.val), "vocab": corpus.tokenizer.vocab},
        "params": sum(p.numel() for p in model.parameters()), "steps": trained,
        "train_seconds": round(seconds, 3), "seconds_per_step": round(seconds / max(1, trained), 5),
        "stopped_early": state.stopped_early, "final_step": state.history[-1] if state.history else {},
        "val": val, "unigram_val_loss": unigram,
        "unigram_bits_per_char": unigram / math.log(2) * len(corpus.val) / corpus.characters(corpus.val),
        "versions": versions(),
    }
    write_json(folder.summary, summary)
    observers.finish(folder.root, progress)  # monitor.json and diagnosis.json, with train.diagnose
    prompt = corpus.val[: min(16, len(corpus.val))]
    write_language_report(folder.root, summary, state.history,
                          sample_text(model, corpus.tokenizer, prompt, spec.seed), t.eval_every)
    return folder.root


def lm_callbacks(spec: LMSpec, folder: RunFolder, progress: str, raw: dict[str, Any]
                 ) -> tuple[Checkpoints, list[Callback]]:
    """The run folder's checkpoints (to go last) and the loop's other callbacks: progress, logs, early stopping."""
    t, available = spec.train, ["train_loss", "val_loss"]
    if "monitor" in t.model_fields_set:
        check_monitor(t.monitor, available, "train.monitor")
    checkpoints = Checkpoints(folder.checkpoints, t.checkpoint, t.monitor, "max" if higher_is_better(t.monitor)
                              else "min", raw)
    callbacks: list[Callback] = [Progress(progress), MetricsLog(folder.metrics)]
    if t.tensorboard:
        callbacks.append(TensorBoardLog(folder.tensorboard))
    if t.early_stopping is not None:
        es = t.early_stopping
        check_monitor(es.monitor, available, "train.early_stopping.monitor")
        callbacks.append(EarlyStopping.from_spec(es))
    return checkpoints, callbacks


def validation_metrics(model: GPT, corpus: Corpus, context: int) -> dict[str, float]:
    """Loss, perplexity and bits per character over the whole validation part, every token scored once."""
    x, y = tiled_windows(corpus.val, context)
    return language_metrics(mean_loss(model, x, y), y.numel(), corpus.characters(y.flatten()))


def weights_of(model: GPT) -> dict[str, torch.Tensor]:
    """The state dict without the output layer's weight, which is the token embedding's (tied)."""
    return {k: v for k, v in model.state_dict().items() if k != "head.weight"}


def unigram_loss(train: torch.Tensor, val: torch.Tensor) -> float:
    """Cross-entropy (nats per token) of the validation tokens under training token frequencies (add-one smoothed).

    The baseline a model that ignores context reaches: a language model must beat it.
    """
    vocab = int(max(train.max(), val.max())) + 1
    counts = torch.bincount(train, minlength=vocab).double() + 1
    log_p = (counts / counts.sum()).log()
    return float(-log_p[val].mean())


