"""Preference tuning from the user's pairs into a run folder, through the one loop (``lamina train CONFIG``).

    config (preference: {method, pairs, reference, ...}, train: ...)
      -> the reference language-model run (its tokenizer, model and training text)
      -> pairs.jsonl, validated, packed; the last preference.val of them validate
      -> fit(model, pairs, step=DPO | Preference)  (checkpoints, exact resume, precision, accumulation, ...)
      -> run folder: config.yaml (with the reference's model size), preprocess.json (its tokenizer),
         model.safetensors, metrics.jsonl, losses.jsonl, checkpoints/, summary.json

A DPO run folder is a language-model run: ``lamina generate`` samples from it. A reward run
holds the reward model (Python: :func:`load_reward_run`).
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from lamina.data.prepare import Prepared, Split
from lamina.device import resolve_device
from lamina.errors import ConfigError, RunFolderError
from lamina.evaluate.metrics import higher_is_better
from lamina.files import atomic_write_text, load_tensors, read_json, save_tensors, write_json
from lamina.lm.config import PreferenceSpec, parse_preference_spec, read_raw_config
from lamina.lm.corpus import Corpus, load_corpus
from lamina.lm.generate import LanguageRun, load_language_run
from lamina.lm.pairs import pair_tensors, read_pairs
from lamina.lm.preference import DPO, Preference, reward_scores, text_loss
from lamina.lm.tokenize import load_tokenizer, save_tokenizer
from lamina.lm.train import validation_metrics
from lamina.nn.models.reward import RewardModel
from lamina.runs import RunFolder
from lamina.train.callbacks import Callback, EarlyStopping, LossLog, MetricsLog, Progress, TensorBoardLog, check_monitor
from lamina.train.checkpoint import Checkpoint, Checkpoints, load_best_weights, resume_point, versions
from lamina.train.fields import refuse_train_fields
from lamina.train.loop import fit

FINGERPRINT = "preference.json"  # the pairs' and the reference's hashes: a resume refuses changed inputs
# Train fields that act in a preference run as in any run (the loop's, or restore_best and tensorboard here).
ACTING = ("epochs", "batch_size", "accumulate_steps", "optimizer", "schedule", "l1", "l2", "clip_norm",
          "clip_value", "early_stopping", "monitor", "restore_best", "device", "precision", "threads", "tensorboard",
          "checkpoint")
# Train fields a preference run cannot use, and why; setting one is an error before training starts.
REFUSED = {"loss": "the step sets its loss", "label_smoothing": "the step sets its loss",
           "huber_delta": "the step sets its loss", "epoch_metrics": "validation logs pair accuracy",
           "class_weight": "there are no classes", "adversarial": "it needs a classifier",
           "lr_groups": "the whole model tunes", "selfsup": "see lamina pretrain", "augment": "pairs are text",
           "compile": "the steps call the model on pairs of several lengths",
           "diagnose": "the monitor judges a loss against labels' input-blind baseline; a pair ranking has none",
           "diagnose_every": "see train.diagnose",
           "log": "preference runs log to TensorBoard only (train.tensorboard)"}


def as_preference_spec(config: PreferenceSpec | dict[str, Any] | str | Path,
                       overrides: list[str] | None = None) -> PreferenceSpec:
    """Accept a PreferenceSpec, plain config data, or the path of a YAML config."""
    if isinstance(config, PreferenceSpec):
        return config.model_copy(deep=True)
    if isinstance(config, dict):
        return parse_preference_spec(config)
    return parse_preference_spec(read_raw_config(config, overrides), f"config file {config}")


def check_train_fields(spec: PreferenceSpec) -> None:
    """Refuse a train field the config sets that a preference run cannot use, naming it, before anything runs."""
    refuse_train_fields(spec.train, REFUSED, "preference", f"preference.method: {spec.preference.method}")


def train_preference(config: PreferenceSpec | dict[str, Any] | str | Path, progress: str = "auto",
                     resume: bool = False, extra_callbacks: list[Callback] | None = None) -> Path:
    """Tune the config's reference language-model run on its pairs (DPO) or fit a reward model; the run folder.

    With ``resume``, the newest unfinished run of the config's name continues from its newest valid checkpoint.
    """
    from lamina.trainer import unfinished_run

    spec = as_preference_spec(config)
    check_train_fields(spec)
    p, t = spec.preference, spec.train
    if t.threads is not None:
        torch.set_num_threads(t.threads)
    reference = _reference(spec)
    pairs_path = Path(p.pairs).resolve()
    p.pairs = str(pairs_path)
    context = reference.model.context
    x, y, cut = pair_split(spec, reference.tokenizer, context)
    held = len(x) - cut
    split = lambda a, b: Split(a, b, np.arange(len(a)))  # noqa: E731
    data = Prepared(split(x[:cut], y[:cut]), split(x[cut:], y[cut:]), split(x[:0], y[:0]), None, str(pairs_path))
    text, val_text = _reference_text(reference, p.method == "dpo" and p.text_mix > 0)

    torch.manual_seed(spec.seed)
    if p.method == "dpo":
        model = copy.deepcopy(reference.model).train()
        step: DPO | Preference = DPO(reference.model, p.beta, p.nll, p.text_mix, text, val_text)
    else:
        model = RewardModel(reference.tokenizer.vocab, max_length=context + 1)
        step, val_text = Preference(), None
    available = ["train_loss"] + (["val_loss", "val_pair_accuracy"] if held else []) + (
        ["val_perplexity"] if val_text is not None else [])
    if "monitor" in t.model_fields_set:  # refused before a run folder is made
        check_monitor(t.monitor, available, "train.monitor")
    if t.early_stopping is not None:
        check_monitor(t.early_stopping.monitor, available, "train.early_stopping.monitor")
    fingerprint = {"pairs_sha256": _sha256(pairs_path.read_bytes()),
                   "reference_sha256": _sha256(reference.folder.weights.read_bytes())}
    folder = unfinished_run(spec.runs_dir, spec.name) if resume else None
    checkpoint = _resume_checkpoint(folder, spec, fingerprint, progress) if folder is not None else None
    folder = folder or RunFolder.create(spec.runs_dir, spec.name)
    atomic_write_text(folder.config, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    save_tokenizer(reference.tokenizer, folder.preprocess)
    write_json(folder.root / FINGERPRINT, fingerprint)

    checkpoints, callbacks = _callbacks(spec, folder, progress, available)
    started = time.perf_counter()
    torch.manual_seed(spec.seed)
    state = fit(model, data, t, callbacks + (extra_callbacks or []) + [checkpoints], resolve_device(t.device),
                seed=spec.seed, resume=checkpoint, step=step)
    seconds = time.perf_counter() - started
    if t.restore_best and checkpoints.best is not None and held:
        model.load_state_dict(load_best_weights(folder.checkpoints))
    model.cpu().eval()
    weights = model.state_dict()
    if p.method == "dpo":  # a GPT's output layer is its embedding (tied): stored once
        weights.pop("head.weight")
    save_tensors(folder.weights, weights)
    out: dict[str, Any] = {
        "name": spec.name, "method": p.method, "reference": p.reference, "pairs": {"train": cut, "val": held},
        "params": sum(q.numel() for q in model.parameters()), "epochs_run": len(state.history),
        "stopped_early": state.stopped_early, "train_seconds": round(seconds, 3),
        "final_epoch": state.history[-1] if state.history else {}, "versions": versions()}
    if p.method == "reward" and held:
        out["val"] = reward_scores(model, x[cut:], y[cut:], torch.device("cpu"))
    corpus = held_out_text(reference)
    if p.method == "dpo" and corpus is not None:
        out["val"] = validation_metrics(model, corpus, reference.model.context)
    if val_text is not None:
        out["val_perplexity"] = math.exp(text_loss(model, val_text, torch.device("cpu")))
        out["reference_val_perplexity"] = math.exp(text_loss(reference.model.cpu(), val_text, torch.device("cpu")))
    write_json(folder.summary, out)
    return folder.root


def _reference(spec: PreferenceSpec) -> LanguageRun:
    """The reference run, loaded; its resolved path and model size go into the spec."""
    path = Path(spec.preference.reference).resolve()
    try:
        reference = load_language_run(path)
    except RunFolderError as exc:
        raise ConfigError(f"preference.reference must be a language-model run folder: {exc}") from None
    spec.preference.reference = str(path)
    if spec.model is not None and spec.model != reference.spec.model:
        raise ConfigError(f"model is the reference run's ({reference.spec.model.model_dump()}); got "
                          f"{spec.model.model_dump()}: remove the model section (it is copied from the reference)")
    spec.model = reference.spec.model
    return reference


def pair_split(spec: PreferenceSpec, tokenizer: Any, context: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The pairs file as packed tensors (x, y) and where validation starts: the last preference.val share."""
    p = spec.preference
    pairs = read_pairs(Path(p.pairs))
    x, y = pair_tensors(pairs, tokenizer, context, f"preference.pairs {p.pairs}")
    held = int(len(pairs) * p.val)
    if p.val and not held or held == len(pairs):
        raise ConfigError(f"preference.val {p.val} of {len(pairs)} pairs leaves no pair to "
                          f"{'validate' if not held else 'train'} on; give more pairs or change preference.val")
    return x, y, len(pairs) - held


def held_out_text(reference: LanguageRun) -> Corpus | None:
    """The reference's text, split as its training split it (a DPO run's held-out text); None when it has none."""
    data = getattr(reference.spec, "data", None)
    if data is None or not Path(data.path).is_file():
        return None
    return load_corpus(data.path, data.val, reference.model.context, fitted=reference.tokenizer)


def _reference_text(reference: LanguageRun, needed: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Token ids of the reference's training and validation text (None, None when it has none and none is needed)."""
    corpus = held_out_text(reference)
    if corpus is None:
        if needed:
            data = getattr(reference.spec, "data", None)
            where = data.path if data is not None else "(a preference run has no training text)"
            raise ConfigError(f"preference.text_mix needs the reference run's training text, {where}, which is "
                              "missing; restore it or set preference.text_mix: 0")
        return None, None
    return corpus.train, corpus.val


def _callbacks(spec: PreferenceSpec, folder: RunFolder, progress: str, available: list[str]
               ) -> tuple[Checkpoints, list[Callback]]:
    """The run folder's checkpoints (to go last) and the loop's other callbacks: progress, logs, early stopping.

    ``available`` are the logged values a monitor may name (the config's were checked before the folder was made).
    """
    t = spec.train
    monitor = t.monitor if t.monitor in available else "train_loss"
    mode = "max" if higher_is_better(monitor) else "min"
    checkpoints = Checkpoints(folder.checkpoints, t.checkpoint, monitor, mode, spec.model_dump(mode="json"))
    callbacks: list[Callback] = [Progress(progress), MetricsLog(folder.metrics), LossLog(folder.losses)]
    if t.tensorboard:
        callbacks.append(TensorBoardLog(folder.tensorboard))
    if t.early_stopping is not None:
        es = t.early_stopping
        callbacks.append(EarlyStopping.from_spec(es))
    return checkpoints, callbacks


def _resume_checkpoint(folder: RunFolder, spec: PreferenceSpec, fingerprint: dict[str, str], progress: str
                       ) -> Checkpoint | None:
    """The checkpoint an interrupted run continues from (None: from the start), once its inputs are unchanged."""
    import sys

    saved = folder.root / FINGERPRINT
    if saved.is_file() and read_json(saved) != fingerprint:
        raise ConfigError(f"cannot resume {folder.root}: the pairs file or the reference run changed since it "
                          "started; train without --resume to start a new run")
    checkpoint, notes = resume_point(folder.checkpoints, spec.model_dump(mode="json"))
    if checkpoint is None:
        notes.append(f"{folder.root} has no valid checkpoint; training it from the start")
    if progress != "none":
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    return checkpoint


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_reward_run(run: str | Path) -> bool:
    """Whether ``run`` is a reward-model run folder (``preference.method: reward`` in its config.yaml)."""
    config = RunFolder(run).config
    if not config.is_file():
        return False
    try:
        raw = yaml.safe_load(config.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError:
        return False
    return isinstance(raw, dict) and isinstance(raw.get("preference"), dict) and \
        raw["preference"].get("method") == "reward"


def load_reward_run(run: str | Path) -> tuple[RewardModel, Any]:
    """A reward run's model (eval mode) and tokenizer, rebuilt from its folder (YAML, JSON, safetensors)."""
    folder = RunFolder(run)
    if not folder.config.is_file():
        raise RunFolderError(f"{folder.root} is not a run folder: config.yaml is missing")
    try:
        spec = parse_preference_spec(yaml.safe_load(folder.config.read_text(encoding="utf-8")), str(folder.config))
    except (ConfigError, yaml.YAMLError) as exc:
        raise RunFolderError(f"{folder.config}: {exc}") from None
    if spec.preference.method != "reward" or spec.model is None:
        raise RunFolderError(f"{folder.root} is not a reward-model run (preference.method: reward)")
    tokenizer = load_tokenizer(folder.preprocess)
    model = RewardModel(tokenizer.vocab, max_length=spec.model.context + 1)
    model.load_state_dict(load_tensors(folder.weights))
    return model.eval(), tokenizer
