"""Train a GPT-style language model on a text file into a run folder; score it by perplexity and bits per character.

    for step in steps:
        random windows -> logits -> next-token cross-entropy -> backward -> clip -> step -> schedule
        every eval_every steps (and at the end): validation loss on fixed windows -> metrics.jsonl
    final: the whole validation part, every token scored once -> summary.json

The run folder holds config.yaml, preprocess.json (the tokenizer; a BPE one also writes
tokenizer.json), model.safetensors, metrics.jsonl and summary.json, and
:func:`lamina.lm.generate.load_language_run` rebuilds the model from it. Losses are nats per
token; bits per character divide the total by the characters those tokens stand for, so char
and BPE runs compare on one scale.
"""

from __future__ import annotations

import json
import math
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml

from lamina.errors import LaminaError
from lamina.files import atomic_write_bytes, atomic_write_text, save_tensors, write_json
from lamina.lm.config import LMSpec, parse_lm_spec, read_raw_config
from lamina.lm.corpus import Corpus, load_corpus, random_windows, tiled_windows
from lamina.lm.tokenize import save_tokenizer
from lamina.nn.models.language import GPT
from lamina.runs import RunFolder
from lamina.train.checkpoint import versions
from lamina.train.optim import make_optimizer, make_schedule

EVAL_BATCH = 64  # windows per evaluation forward; larger batches fall out of the cache and run slower per token


def as_lm_spec(config: LMSpec | dict[str, Any] | str | Path, overrides: list[str] | None = None) -> LMSpec:
    """Accept an LMSpec, plain config data, or the path of a YAML config."""
    if isinstance(config, LMSpec):
        return config.model_copy(deep=True)
    if isinstance(config, dict):
        return parse_lm_spec(config)
    return parse_lm_spec(read_raw_config(config, overrides), f"config file {config}")


def autocast_for(precision: str) -> AbstractContextManager:
    """The context a forward pass runs in: bfloat16 autocast on the CPU for ``bf16``, nothing for ``fp32``."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


@torch.inference_mode()
def mean_loss(model: GPT, x: torch.Tensor, y: torch.Tensor, precision: str = "fp32") -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` over windows ``x`` -> ``y``, in eval mode."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64)
    for start in range(0, len(x), EVAL_BATCH):
        with autocast_for(precision):
            logits = model(x[start : start + EVAL_BATCH])  # (B, T, V)
        target = y[start : start + EVAL_BATCH]  # (B, T)
        total += F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), reduction="sum")
    model.train(was_training)
    return float(total) / y.numel()


def language_metrics(loss: float, tokens: int, chars: int) -> dict[str, float]:
    """Perplexity per token and bits per character from a mean loss in nats per token over ``tokens`` tokens.

    ``chars`` is how many characters those tokens spell: a BPE token covers several, so the
    total information (loss * tokens nats) is shared out over the characters, not the tokens.
    """
    return {"loss": loss, "perplexity": math.exp(loss), "bits_per_char": loss / math.log(2) * tokens / chars}


def train_lm(config: LMSpec | dict[str, Any] | str | Path, progress: str = "auto") -> Path:
    """Train the language model a config describes; returns the new run folder.

    ``progress`` is 'auto' (a bar on a terminal, lines otherwise), 'bar', 'plain' or 'none'.
    """
    spec = as_lm_spec(config)
    spec.data.path = str(Path(spec.data.path).resolve())
    if spec.train.threads is not None:
        torch.set_num_threads(spec.train.threads)
    torch.manual_seed(spec.seed)
    corpus = load_corpus(spec.data.path, spec.data.val, spec.model.context, spec.data.tokenizer, spec.data.vocab_size)
    model = GPT(corpus.tokenizer.vocab, spec.model)
    folder = RunFolder.create(spec.runs_dir, spec.name)
    atomic_write_text(folder.config, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    save_tokenizer(corpus.tokenizer, folder.preprocess)

    t = spec.train
    optimizer = make_optimizer(model.parameters(), t.optimizer)
    scheduler = make_schedule(optimizer, t.schedule, 1, t.steps)
    batches = torch.Generator().manual_seed(spec.seed)
    probe = torch.Generator().manual_seed(spec.seed + 1)  # the same validation windows at every evaluation
    val_x, val_y = random_windows(corpus.val, spec.model.context, t.eval_batches * t.batch_size, probe)
    history: list[dict[str, Any]] = []
    bar = StepProgress(progress, t.steps)
    started = time.perf_counter()
    model.train()
    running = torch.zeros(())
    for step in range(1, t.steps + 1):
        x, y = random_windows(corpus.train, spec.model.context, t.batch_size, batches)  # (B, T), (B, T)
        loss = train_step(model, optimizer, scheduler, x, y, t.clip_norm, t.precision)
        if not math.isfinite(float(loss)):
            raise LaminaError(f"language-model training diverged at step {step}: the loss is {float(loss)}. "
                              "Lower train.optimizer.lr or set train.clip_norm")
        running += loss
        if step % t.eval_every == 0 or step == t.steps:
            logs = {"step": step, "train_loss": float(running) / (step - (history[-1]["step"] if history else 0)),
                    "val_loss": mean_loss(model, val_x, val_y, t.precision), "lr": optimizer.param_groups[0]["lr"],
                    "seconds": round(time.perf_counter() - started, 3)}
            running.zero_()
            history.append(logs)
            append_line(folder.metrics, logs)
            bar.log(step, logs)
        bar.advance(step)
    seconds = time.perf_counter() - started
    bar.close()

    save_tensors(folder.weights, weights_of(model))
    val = validation_metrics(model, corpus, spec.model.context)
    unigram = unigram_loss(corpus.train, corpus.val)
    write_json(folder.summary, {
        "name": spec.name, "task": spec.task, "data": spec.data.path,
        "tokens": {"train": len(corpus.train), "val": len(corpus.val), "vocab": corpus.tokenizer.vocab},
        "params": sum(p.numel() for p in model.parameters()), "steps": t.steps,
        "train_seconds": round(seconds, 3), "seconds_per_step": round(seconds / t.steps, 5),
        "final_step": history[-1], "val": val, "unigram_val_loss": unigram,
        "unigram_bits_per_char": unigram / math.log(2) * len(corpus.val) / corpus.characters(corpus.val),
        "versions": versions(),
    })
    return folder.root


def train_step(model: GPT, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR | None,
               x: torch.Tensor, y: torch.Tensor, clip_norm: float | None, precision: str = "fp32") -> torch.Tensor:
    """One optimization step on windows ``x`` -> ``y`` (B, T); returns the batch's mean loss, detached.

    The forward pass runs in ``precision`` (see :func:`autocast_for`), the loss in float32.
    Gradients are clipped to ``clip_norm`` and the schedule advances once. A non-finite loss
    leaves the weights stepped; the caller checks the returned loss and stops.
    """
    with autocast_for(precision):
        logits = model(x)  # (B, T, V)
    loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.detach()


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


def append_line(path: Path, logs: dict[str, Any]) -> None:
    """Append one JSON line to ``path`` (the whole file rewritten atomically, so it is never half a line)."""
    old = path.read_bytes() if path.is_file() else b""
    atomic_write_bytes(path, old + json.dumps(logs).encode("utf-8") + b"\n")


class StepProgress:
    """A rich bar over steps on a terminal, plain lines at each evaluation otherwise, or nothing ('none')."""

    def __init__(self, style: str, total: int) -> None:
        if style == "auto":
            style = "bar" if sys.stderr.isatty() else "plain"
        self.style, self.bar, self.task = style, None, None
        if style == "bar":
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(*Progress.get_default_columns(), "{task.fields[metrics]}", console=Console(stderr=True))
            self.bar.start()
            self.task = self.bar.add_task("train", total=total, metrics="")

    def advance(self, step: int) -> None:
        """Move the bar to ``step``."""
        if self.bar is not None:
            self.bar.update(self.task, completed=step)

    def log(self, step: int, logs: dict[str, Any]) -> None:
        """Show an evaluation's losses."""
        text = f"train_loss {logs['train_loss']:.4f}  val_loss {logs['val_loss']:.4f}"
        if self.bar is not None:
            self.bar.update(self.task, metrics=text)
        elif self.style == "plain":
            print(f"step {step}: {text}  ({logs['seconds']:.1f}s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Stop the bar."""
        if self.bar is not None:
            self.bar.stop()
