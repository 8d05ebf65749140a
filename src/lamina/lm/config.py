"""The spec of a language-model run (``task: language_model``): a text file, a GPT size, a step budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from lamina.config import (OptimizerSpec, ScheduleSpec, Spec, TrainSpec, apply_overrides, format_validation_error,
                           parse_yaml)
from lamina.errors import ConfigError
from lamina.example_files import resolve_data_path
from lamina.inherit import resolve_extends
from lamina.nn.models.language import GPTOptions

TASK = "language_model"
BPE_VOCAB = 1024  # data.vocab_size when data.tokenizer is bpe and no size is given


class TextDataSpec(Spec):
    """A plain text file; the first ``1 - val`` of it trains, the last ``val`` validates.

    ``tokenizer``: ``char`` (one token per character) or ``bpe`` (byte-level byte-pair encoding
    learned on the training part, ``vocab_size`` ids in all).
    """

    path: str
    val: float = Field(0.1, gt=0, lt=0.5)
    tokenizer: Literal["char", "bpe"] = "char"
    vocab_size: int | None = Field(None, ge=257, le=1_000_000)

    @model_validator(mode="after")
    def _vocab_size_is_for_bpe(self) -> TextDataSpec:
        if self.tokenizer == "char" and self.vocab_size is not None:
            raise ValueError("data.vocab_size applies to data.tokenizer 'bpe' only (a character vocabulary is the "
                             "training text's distinct characters); drop it or set data.tokenizer: bpe")
        if self.tokenizer == "bpe" and self.vocab_size is None:
            self.vocab_size = BPE_VOCAB
        return self


class LMTrainSpec(TrainSpec):
    """The train section of a language-model run: the common one with a step budget instead of epochs.

    ``steps`` batches of ``batch_size`` random windows, in "epochs" of ``eval_every`` steps: each
    ends with the validation loss on ``eval_batches`` batches of fixed windows (metrics.jsonl, early
    stopping, checkpoints). ``precision: bf16`` runs the forward pass under bfloat16 autocast (weights,
    gradients and the optimizer stay float32). The final validation is always scored in float32.
    The fields of :data:`lamina.lm.train.REFUSED` do not apply and are refused when set.
    """

    steps: int = Field(2000, gt=0)
    batch_size: int = Field(32, gt=0)
    optimizer: OptimizerSpec = Field(default_factory=lambda: OptimizerSpec(name="adamw", lr=2e-3, weight_decay=0.1,
                                                                           betas=(0.9, 0.99)))
    schedule: ScheduleSpec = Field(default_factory=lambda: ScheduleSpec(name="cosine", warmup_epochs=0.05,
                                                                        min_lr_ratio=0.1))
    clip_norm: float | None = Field(1.0, gt=0)
    eval_every: int = Field(250, gt=0)
    eval_batches: int = Field(8, gt=0)
    restore_best: bool = False  # the last weights, unless asked
    tensorboard: bool = False
    diagnose: bool = False


class LMSpec(Spec):
    """Everything a language-model run needs; saved resolved as the run folder's config.yaml.

    ``train.schedule.warmup_epochs`` is a fraction of all steps here (one pass of ``steps`` counts as one epoch
    for the schedule; progress, logs, early stopping and checkpoints count epochs of ``eval_every`` steps).
    """

    task: Literal["language_model"] = TASK
    name: str = Field("lm", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = 0
    runs_dir: str = "runs"
    data: TextDataSpec
    model: GPTOptions = Field(default_factory=GPTOptions)
    train: LMTrainSpec = Field(default_factory=LMTrainSpec)


class PreferenceOptions(Spec):
    """Preference tuning of a language-model run on the user's pairs (a JSONL of prompt, chosen, rejected).

    ``method``: ``dpo`` tunes a copy of the ``reference`` run's model by Direct Preference Optimization
    (``beta`` scales the policy-vs-reference log-ratio margin); ``reward`` fits a reward model to the pairs
    (Bradley-Terry) with the reference's tokenizer. ``nll`` weighs the chosen endings' negative
    log-likelihood per token (RPO), ``text_mix`` the next-token loss on windows of the reference's own
    training text (InstructGPT's pretraining mix): both keep DPO's language close to the reference's.
    The last ``val`` fraction of the pairs validates.
    """

    method: Literal["dpo", "reward"] = "dpo"
    pairs: str
    reference: str
    beta: float = Field(0.1, gt=0)
    nll: float = Field(1.0, ge=0)
    text_mix: float = Field(1.0, ge=0)
    val: float = Field(0.2, ge=0, lt=1)


# The train section's defaults for preference runs (where the config leaves them out): a few epochs at a small rate.
PREFERENCE_TRAIN = {"epochs": 3, "batch_size": 32, "optimizer": {"name": "adamw", "lr": 1e-4, "weight_decay": 0.0}}


class PreferenceSpec(Spec):
    """A preference-tuning run (a ``preference:`` section); saved resolved as the run folder's config.yaml.

    ``model`` is the reference run's GPT size, copied from it when the run starts (so the run
    folder alone rebuilds a DPO-tuned model); ``train`` is the one loop's train section.
    """

    name: str = Field("preference", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = 0
    runs_dir: str = "runs"
    preference: PreferenceOptions
    model: GPTOptions | None = None
    train: TrainSpec = Field(default_factory=lambda: TrainSpec.model_validate(PREFERENCE_TRAIN))


def is_preference_config(raw: Any) -> bool:
    """Whether plain config data describes a preference-tuning run (it has a ``preference:`` section)."""
    return isinstance(raw, dict) and "preference" in raw


def parse_preference_spec(raw: Any, source: str = "config") -> PreferenceSpec:
    """Validate plain data into a PreferenceSpec, or raise one ConfigError listing every problem."""
    from pydantic import ValidationError

    if isinstance(raw, dict) and isinstance(raw.get("train", {}), dict):
        train = dict(raw.get("train") or {})
        optimizer = train.get("optimizer", {})
        if isinstance(optimizer, dict):
            train["optimizer"] = PREFERENCE_TRAIN["optimizer"] | optimizer
        raw = raw | {"train": PREFERENCE_TRAIN | train}
    try:
        return PreferenceSpec.model_validate(raw)
    except ValidationError as exc:
        problems = format_validation_error(exc, "", PreferenceSpec).splitlines()
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def is_language_config(raw: Any) -> bool:
    """Whether plain config data describes a language-model run (``task: language_model``)."""
    return isinstance(raw, dict) and raw.get("task") == TASK


def parse_lm_spec(raw: Any, source: str = "config") -> LMSpec:
    """Validate plain data into an LMSpec, or raise one ConfigError listing every problem."""
    from pydantic import ValidationError

    try:
        return LMSpec.model_validate(raw)
    except ValidationError as exc:
        problems = format_validation_error(exc, "", LMSpec).splitlines()
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def read_raw_config(path: str | Path, overrides: list[str] | None = None) -> Any:
    """A YAML config file as plain data with ``key.path=value`` overrides applied (not yet validated)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    raw = parse_yaml(path.read_text(encoding="utf-8", errors="replace"), f"config file {path}")
    if not isinstance(raw, dict):
        return raw
    return resolve_data_path(apply_overrides(resolve_extends(raw, path), overrides or []))
