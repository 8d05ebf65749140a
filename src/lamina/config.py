"""Run specifications: plain, validated data that round-trips to YAML.

A :class:`RunSpec` holds everything a training run needs (data, model, train,
eval). Specs are pydantic models with ``extra="forbid"`` so a misspelled key
is caught, and :func:`load_config` turns every validation problem into one
:class:`~lamina.errors.ConfigError` naming the field path, the bad value, the
allowed values and, for typos, the closest valid name.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lamina import registry
from lamina.errors import SHOWN_CHARS, ConfigError, did_you_mean, shown
from lamina.example_files import resolve_data_path
from lamina.inherit import resolve_extends


MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's seeds are 32-bit; a larger one would fail deep inside them
MAX_NAME_CHARS = 100  # a run name is a folder name; file systems refuse names above 255 bytes
CORES_MULTIPLE = 4  # train.threads and data.loader_workers above this many per core only thrash the machine


def _checked(lookup: Any, *args: Any) -> Any:
    """Run a registry lookup inside a validator, as a ValueError so pydantic reports it with the others."""
    try:
        return lookup(*args)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _known_metric_names(names: list[str] | str, field: str) -> list[str] | str:
    """Check each name of a metric list against the metric registry ('auto' passes through)."""
    if isinstance(names, list):
        for name in names:
            _checked(registry.METRICS.get, name, field)
    return names


class Spec(BaseModel):
    """Base of every spec: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Options(Spec):
    """Base of a command's options set from Python or the CLI (attack, compress, segment): validated as every
    spec is, and a mistake raises one ConfigError in lamina's grammar (``field must be ...; got ...``)."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, "", type(self))) from None


class SplitSpec(Spec):
    """How rows are divided into train, validation and test (deterministic for a seed)."""

    val: float = Field(0.15, ge=0.0, lt=1.0)
    test: float = Field(0.15, ge=0.0, lt=1.0)
    stratify: bool = True
    seed: int = Field(0, ge=0, le=MAX_SEED)
    order: str | None = None  # a table column (time, date): later rows are validated and tested on, never shuffled in
    group: str | None = None  # a table column: rows sharing its value stay on one side of every split (group K-fold)
    folds: int | None = Field(None, ge=2)  # cross-validation (lamina train --cv K): K folds, this run tests on `fold`
    fold: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> SplitSpec:
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"data.split.fold must be below data.split.folds ({self.folds}); got {self.fold}")
        if self.val + self.test >= 0.9:
            raise ValueError(
                f"data.split.val + data.split.test must be below 0.9; got {self.val} + {self.test}"
            )
        return self


class TextSpec(Spec):
    """A CSV text column read as token ids: ``tokenizer`` char or word, vocabulary fitted on train only; or
    ``minilm``, the pretrained MiniLM encoder's WordPiece tokenizer (set by ``model.backbone.pretrained: minilm``).

    Tokens seen fewer than ``min_count`` times in training (or beyond the ``max_vocab`` most frequent)
    become the unknown token; sequences are padded (id 0, at the end) or truncated to ``max_length``
    ('auto': the longest training text, capped at 512).
    """

    column: str
    tokenizer: Literal["word", "char", "minilm"] = "word"
    lowercase: bool = True
    max_length: int | Literal["auto"] = "auto"
    min_count: int = Field(1, gt=0)
    max_vocab: int | None = Field(None, gt=2)

    @field_validator("max_length")
    @classmethod
    def _positive_length(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"data.text.max_length must be a positive integer or 'auto'; got {value}")
        return value


class SeriesSpec(Spec):
    """Time series from CSV columns, cut into windows of ``window`` steps followed by ``horizon`` steps to forecast.

    Each listed column (default: every numeric column not dropped) is one series, scaled by its own mean and
    standard deviation fitted on its training span. Splits are chronological: the last ``data.split.test``
    of time is the test span and the ``data.split.val`` before it the validation span. ``season`` (steps
    per cycle) sets the seasonal-naive baseline reported beside the model's errors.
    """

    columns: list[str] | None = None
    window: int = Field(gt=0)
    horizon: int = Field(1, gt=0)
    stride: int = Field(1, gt=0)
    season: int | None = Field(None, gt=0)


class SyntheticSpec(Spec):
    """Generated labelled examples added to the training split from a VAE or GAN run (labels from its judge)."""

    run: str
    n: int = Field(500, gt=0)
    seed: int = Field(0, ge=0, le=MAX_SEED)


class ImageSpec(Spec):
    """How image files become model inputs (an image folder run): decoded once, cached as uint8.

    ``size`` [H, W]: every image is brought to it (left out: all images must share one size).
    ``channels``: 1 (grey) or 3 (RGB); left out, 1 when every file is greyscale, else 3.
    ``resize``: fit (stretch to the size), crop (scale to cover, centre crop) or pad (scale to fit, pad with black).
    ``workers``: decoding processes. ``cache``: folder of decoded sets (default $LAMINA_CACHE or ~/.cache/lamina).
    """

    size: list[int] | None = Field(None, min_length=2, max_length=2)
    channels: Literal[1, 3] | None = None
    resize: Literal["fit", "crop", "pad"] = "fit"
    workers: int = Field(2, ge=0)
    cache: str | None = None

    @field_validator("size")
    @classmethod
    def _positive_size(cls, size: list[int] | None) -> list[int] | None:
        if size is not None and min(size) < 1:
            raise ValueError(f"data.image.size must be two positive integers [height, width]; got {size}")
        return size


class DataSpec(Spec):
    """Where the data comes from and how it is prepared (fitted on the training split only)."""

    dataset: str | None = None
    path: str | None = None
    python: Literal["arrays", "frame"] | None = None  # set by lamina.fit(config, data=...): data from Python, not a file
    format: Literal["auto", "csv", "npz", "parquet", "arrow", "feather", "jsonl"] = "auto"
    target: str | list[str] | None = None
    x_key: str = "x"
    y_key: str = "y"
    view: Literal["auto", "image", "flat"] = "auto"
    task: Literal["auto", "binary", "multiclass", "regression", "seq2seq"] = "auto"
    categorical: list[str] = Field(default_factory=list)
    categorical_encoding: Literal["onehot", "embedding"] = "onehot"
    numeric: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    missing: Literal["impute", "reject"] = "impute"
    scale: Literal["auto", "standard", "minmax", "none"] = "auto"
    scale_target: bool = True
    split: SplitSpec = Field(default_factory=SplitSpec)
    batch_path: Literal["auto", "memory", "loader"] = "auto"
    loader_workers: int = Field(0, ge=0)
    sampler: Literal["shuffle", "balanced"] = "shuffle"  # balanced: each class drawn equally often (with replacement)
    text: TextSpec | None = None
    series: SeriesSpec | None = None
    synthetic: SyntheticSpec | None = None
    columns: dict[str, Literal["numeric", "categorical", "text", "datetime", "ignore"]] = Field(default_factory=dict)
    na_values: list[str] = Field(default_factory=lambda: ["", "NA", "N/A", "NaN", "nan", "null", "NULL"])
    nonfinite: Literal["error", "missing"] = "error"
    missing_target: Literal["drop", "reject"] = "drop"
    max_categories: int = Field(50, ge=1, le=10_000)
    image: ImageSpec | None = None
    image_column: str | None = None  # a table's column of image paths (relative to the table), data.target the label
    masks: str | None = None
    on_bad_file: Literal["error", "skip"] = "error"

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str | None) -> str | None:
        if name is not None:
            _checked(registry.DATASETS.get, name)
        return name

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if sum(v is not None for v in (self.dataset, self.path, self.python)) != 1:
            raise ValueError(
                "data needs exactly one of data.dataset (a builtin set) or data.path (a CSV or NPZ file), "
                "or lamina.fit(config, data=...) from Python; "
                f"got dataset={shown(self.dataset)}, path={shown(self.path)}"
                + (f", data from Python ({self.python})" if self.python is not None else "")
            )
        if self.text is not None and self.series is not None:
            raise ValueError("data.text and data.series cannot both be set: a run reads either text or time series")
        if self.image_column is not None and (self.path is None or self.text is not None or self.series is not None):
            raise ValueError("data.image_column names a column of image paths in a table: set data.path to the "
                             "CSV or Parquet file (and neither data.text nor data.series)")
        if (self.text is not None or self.series is not None) and self.path is None:
            raise ValueError(f"data.{'text' if self.text is not None else 'series'} reads a CSV file: set data.path")
        return self


class BackboneSpec(Spec):
    """A trained run's layers as the start of a new model (transfer learning); ``model.layers`` is the new head.

    ``cut``: the last backbone layer kept, as an index into its chain (negative counts from the end;
    -2 drops only the final layer) or a layer name (its last occurrence, e.g. ``flatten``).
    ``freeze``: the backbone's weights stay fixed and its BatchNorm layers stay in eval mode (running
    statistics unchanged); with nothing else changing the backbone, its features are computed once and
    cached. ``unfreeze_every``: gradual unfreezing, one backbone layer group (from the top down) every
    that many epochs. ``layers`` and ``input_shape`` are filled in from the run when training starts, so
    the new run folder alone rebuilds the model.

    ``pretrained: minilm`` starts from the pretrained MiniLM sentence encoder instead of a run (text data,
    ``data.text``; the ``text`` extra): its embedding, six transformer blocks (one layer group each), mean
    pooling and L2 normalization, 384 features. Its weights are copied into the run's model.safetensors.
    """

    run: str | None = None
    pretrained: Literal["minilm"] | None = None
    cut: int | str = -2
    freeze: bool = True
    unfreeze_every: int | None = Field(None, gt=0)
    layers: list[Any] | None = None
    input_shape: list[int] | None = None

    @model_validator(mode="after")
    def _run_or_pretrained(self) -> BackboneSpec:
        if (self.run is None) == (self.pretrained is None):
            raise ValueError("model.backbone needs exactly one of run (a trained run folder) or pretrained (minilm)")
        return self


AUTO_ARCH = "auto"  # model.arch: the preset is picked from the data when training starts


class ModelSpec(BaseModel):
    """The network: a preset (``arch`` plus its options as sibling keys), a chain of ``layers``, or a ``backbone``
    (a trained run's layers) with ``layers`` as the new head (a final dense layer when omitted).

    ``arch: auto`` (also what a config without a model section gets) lets lamina pick the preset and its size
    from the data (see lamina.nn.auto); the run folder's config.yaml then holds the concrete choice."""

    model_config = ConfigDict(extra="allow")

    arch: str | None = None
    layers: list[Any] | None = None
    init: str = "default"
    backbone: BackboneSpec | None = None

    @field_validator("init")
    @classmethod
    def _known_init(cls, name: str) -> str:
        _checked(registry.INITIALIZERS.get, name)
        return name

    @model_validator(mode="after")
    def _preset_or_chain(self) -> ModelSpec:
        from lamina.nn.layers import parse_chain

        options = dict(self.model_extra or {})
        if self.backbone is not None and self.arch is not None:
            raise ValueError("model.arch cannot be used with model.backbone; give the new head as model.layers")
        if self.backbone is not None and self.layers is None:
            if options:
                raise ValueError(f"model.{sorted(options)[0]} is not a field of a backbone model "
                                 "(allowed: backbone, layers, init)")
            return self
        if (self.arch is None) == (self.layers is None):
            raise ValueError("model needs exactly one of model.arch (a preset) or model.layers (a chain)")
        if self.arch == AUTO_ARCH:
            if options:
                raise ValueError(f"model.{sorted(options)[0]} cannot be set with model.arch: auto (lamina picks the "
                                 "preset and its options from the data); name a preset to set its options")
            return self
        if self.layers is not None:
            if options:
                name = sorted(options)[0]
                raise ValueError(
                    f"model.{name} is not a field of a layer chain (allowed: arch, layers, init, backbone)."
                    + did_you_mean(name, ["arch", "layers", "init", "backbone"])
                )
            _checked(parse_chain, self.layers, "model.layers")
            return self
        preset = _checked(registry.PRESETS.get, self.arch, "model.arch")
        resolved = _checked(validate_section, preset.options, options, "model", ("arch", "layers", "init", "backbone"))
        self.__pydantic_extra__.update(resolved.model_dump(mode="json"))
        return self

    def preset_options(self) -> dict[str, Any]:
        """The preset's options (every default filled in), as plain data."""
        return dict(self.model_extra or {})


class OptimizerSpec(Spec):
    """Optimizer name and hyperparameters (unused ones are ignored by optimizers that lack them)."""

    name: str = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    alpha: float = Field(0.99, gt=0, lt=1)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        _checked(registry.OPTIMIZERS.get, name)
        return name


class ScheduleSpec(Spec):
    """Learning-rate schedule, applied per optimizer step, with optional linear warmup."""

    name: str = "constant"
    warmup_epochs: float = Field(0.0, ge=0)
    step_epochs: int = Field(10, gt=0)
    gamma: float = Field(0.1, gt=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    pct_start: float = Field(0.3, gt=0, lt=1)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        _checked(registry.SCHEDULES.get, name)
        return name


class EarlyStoppingSpec(Spec):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    monitor: str = "val_loss"
    patience: int = Field(10, gt=0)
    min_delta: float = Field(0.0, ge=0)
    mode: Literal["auto", "min", "max"] = "auto"


class CheckpointSpec(Spec):
    """When checkpoints are written, and how many are kept.

    An epoch's end is saved once ``epoch_seconds`` have passed since the last save (0: every
    epoch's end), the last epoch always; when training ends any other way, the newest epoch's
    end and the best epoch's are written then. ``every_steps`` / ``every_seconds`` add mid-epoch saves.
    """

    epoch_seconds: float = Field(30.0, ge=0)
    every_steps: int | None = Field(None, gt=0)
    every_seconds: float | None = Field(None, gt=0)
    keep: int = Field(2, ge=2)


class AdversarialSpec(Spec):
    """Adversarial training: each batch is attacked before the step (TRADES instead adds a robustness term).

    ``eps`` and ``step_size`` are in model-input units (for min-max scaled images, a fraction of the
    pixel range); ``steps`` applies to pgd and trades (fgsm takes one step, 1.25 * eps after a random
    start); ``ramp_epochs`` grows eps linearly from 0 over the first epochs; ``beta`` weighs TRADES' term.
    """

    method: Literal["fgsm", "pgd", "trades"] = "pgd"
    eps: float = Field(gt=0)
    norm: Literal["linf", "l2"] = "linf"
    steps: int = Field(7, gt=0)
    step_size: float | None = Field(None, gt=0)
    random_start: bool = True
    beta: float = Field(6.0, gt=0)
    ramp_epochs: float = Field(0.0, ge=0)


class LrGroupSpec(Spec):
    """A learning rate for some of the model's layers (discriminative rates).

    ``layers``: ``backbone`` or ``head`` (of a model.backbone model), ``backbone.N`` (the backbone's N-th
    layer group from the input, where each group starts at a layer with weights), a layer index, or a
    ``start:stop`` index range. Give ``lr`` (absolute) or ``scale`` (times train.optimizer.lr).
    """

    layers: str | int
    lr: float | None = Field(None, gt=0)
    scale: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_rate(self) -> LrGroupSpec:
        if (self.lr is None) == (self.scale is None):
            raise ValueError(f"train.lr_groups entry for layers {shown(self.layers)} needs exactly one of lr or scale")
        return self


class SelfSupSpec(Spec):
    """Self-supervised pretraining for ``lamina pretrain`` (see lamina.transfer.selfsup).

    ``simclr``: contrastive (NT-Xent at ``temperature`` over a ``projection``-wide head) between two
    ``train.augment`` views. ``denoise``: reconstruct inputs with a ``mask`` share of features zeroed
    and Gaussian ``noise`` added.
    """

    method: Literal["simclr", "denoise"] = "simclr"
    temperature: float = Field(0.5, gt=0)
    projection: int = Field(64, gt=0)
    mask: float = Field(0.5, ge=0, lt=1)
    noise: float = Field(0.1, ge=0)


class TrainSpec(Spec):
    """The training loop's settings."""

    epochs: int = Field(20, gt=0)
    batch_size: int = Field(64, gt=0)
    accumulate_steps: int = Field(1, gt=0)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    loss: str = "auto"
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    huber_delta: float = Field(1.0, gt=0)
    l1: float = Field(0.0, ge=0)
    l2: float = Field(0.0, ge=0)
    clip_norm: float | None = Field(None, gt=0)
    clip_value: float | None = Field(None, gt=0)
    early_stopping: EarlyStoppingSpec | None = None
    monitor: str = "val_loss"
    restore_best: bool = True
    epoch_metrics: list[str] | Literal["auto"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False  # torch.compile the training forward; falls back to eager with a message
    threads: int | None = Field(None, gt=0)  # torch intra-op threads for this run (None: torch's default)
    tensorboard: bool = True
    log: list[Literal["tensorboard", "mlflow"]] | None = None  # experiment trackers; None: [tensorboard] if tensorboard
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    adversarial: AdversarialSpec | None = None
    lr_groups: list[LrGroupSpec] = Field(default_factory=list)  # earlier entries win where layers overlap
    selfsup: SelfSupSpec | None = None  # used by lamina pretrain
    augment: list[Any] = Field(default_factory=list)  # steps of lamina.data.augment, e.g. [{shift: 1}, {noise: 0.05}]
    class_weight: Literal["balanced"] | dict[str | int, Annotated[float, Field(gt=0)]] | None = None  # loss weight per class
    diagnose: bool = True  # monitors sampled every diagnose_every steps; benchmarks/diagnose_overhead.py
    diagnose_every: int = Field(50, gt=0)  # sampled more often when a run would give under 20 samples

    @field_validator("epoch_metrics")
    @classmethod
    def _known_epoch_metrics(cls, names: list[str] | str) -> list[str] | str:
        return _known_metric_names(names, "train.epoch_metrics")

    @model_validator(mode="after")
    def _one_tensorboard_switch(self) -> TrainSpec:
        if self.log is not None and not self.tensorboard and "tensorboard" in self.log:
            raise ValueError("train.tensorboard is false but train.log lists tensorboard; keep one of the two")
        return self

    def loggers(self) -> list[str]:
        """The experiment trackers this run writes to: ``log`` when given, else TensorBoard unless switched off."""
        if self.log is not None:
            return list(dict.fromkeys(self.log))
        return ["tensorboard"] if self.tensorboard else []

    @field_validator("augment")
    @classmethod
    def _known_augment(cls, items: list[Any]) -> list[Any]:
        from lamina.data.augment import parse_pipeline

        _checked(parse_pipeline, items, "train.augment")
        return items

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        if name != "auto":
            _checked(registry.LOSSES.get, name, "train.loss")
        return name


class EvalSpec(Spec):
    """Which metrics are reported on the test split ("auto" picks them by task)."""

    metrics: list[str] | Literal["auto"] = "auto"
    groups: list[str] = Field(default_factory=list)  # table columns: metrics per group and the gaps between groups
    group_inputs: bool = False  # the group columns are left out of the model's inputs unless this is true
    decoding: Literal["greedy", "beam"] = "greedy"  # seq2seq: how test sequences are generated
    beam_width: int = Field(4, gt=0)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, names: list[str] | str) -> list[str] | str:
        return _known_metric_names(names, "eval.metrics")


class ContinualSpec(Spec):
    """A task sequence and the strategy that learns it, for ``lamina continual``.

    ``scenario``: class_split (class-incremental: the classes divided into ``tasks`` groups, one shared
    head) or permuted (domain-incremental: each task a fixed permutation of the input features). Each task
    is trained with the train section's settings (epochs, optimizer, batch size, loss).
    """

    scenario: Literal["class_split", "permuted"] = "class_split"
    tasks: int = Field(5, ge=2)
    strategy: Literal["naive", "ewc", "replay", "lwf"] = "naive"
    ewc_lambda: float = Field(1000.0, ge=0)
    fisher_samples: int = Field(500, gt=0)
    buffer_size: int = Field(200, gt=0)
    replay_batch: int | None = Field(None, gt=0)
    lwf_alpha: float = Field(1.0, ge=0)
    lwf_temperature: float = Field(2.0, gt=0)


class ParamSpec(Spec):
    """One searched config field: ``choices``, or a ``low``..``high`` range (``log`` scale, ``step``, ``integer``).

    ``when`` makes it conditional: ``{model.arch: cnn}`` samples it only when that field
    (searched earlier or fixed in the config) has that value (or one of a list of values).
    """

    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    integer: bool = False
    when: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _choices_or_range(self) -> ParamSpec:
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError(f"a tune parameter needs either choices or both low and high; got {self.model_dump(exclude_none=True)}")
        if self.choices is not None and not self.choices:
            raise ValueError("tune parameter choices must be a non-empty list; got []")
        if self.low is not None and self.high is not None:
            if self.low >= self.high:
                raise ValueError(f"tune parameter low must be below high; got low={self.low}, high={self.high}")
            if self.log and self.low <= 0:
                raise ValueError(f"a log-scale tune parameter needs low > 0; got low={self.low}")
            if self.log and self.step is not None:
                raise ValueError("a tune parameter takes log or step, not both")
        return self


class NasSpec(Spec):
    """A layer-chain search space: blocks of searched depth, width, kernel, skip, activation and norm."""

    kind: Literal["mlp", "cnn"] = "mlp"
    depth: tuple[int, int] = (1, 3)
    width: list[int] = Field(default_factory=lambda: [16, 32, 64, 128], min_length=1)
    kernel: list[int] = Field(default_factory=lambda: [3, 5], min_length=1)
    blocks: list[Literal["plain", "residual"]] = Field(default_factory=lambda: ["plain", "residual"], min_length=1)
    activation: list[str] = Field(default_factory=lambda: ["relu", "gelu", "tanh"], min_length=1)
    batchnorm: list[bool] = Field(default_factory=lambda: [False, True], min_length=1)
    dropout: list[float] = Field(default_factory=lambda: [0.0], min_length=1)

    @model_validator(mode="after")
    def _sane(self) -> NasSpec:
        from lamina.nn.layers import ACTIVATIONS

        if not 1 <= self.depth[0] <= self.depth[1]:
            raise ValueError(f"tune.nas.depth must be [min, max] with 1 <= min <= max; got {list(self.depth)}")
        for name in self.activation:
            if name not in ACTIVATIONS:
                raise ValueError(f"tune.nas.activation must hold activation layers ({', '.join(sorted(ACTIVATIONS))}); "
                                 f"got {shown(name)}.{did_you_mean(name, ACTIVATIONS)}")
        return self


class TuneSpec(Spec):
    """Hyperparameter / architecture search over this config (``lamina tune``).

    ``params`` maps dotted config paths (``train.optimizer.lr``) to search ranges;
    ``nas`` searches a layer chain; ``objectives`` adds model size or latency to the
    monitored ``metric`` (multi-objective, Pareto front). ``heartbeat`` (seconds) is how often a
    running trial says it is alive; one silent for four beats is re-run by another worker.
    """

    metric: str = "auto"
    direction: Literal["auto", "maximize", "minimize"] = "auto"
    objectives: list[Literal["metric", "params", "latency"]] = Field(default_factory=lambda: ["metric"], min_length=1)
    sampler: Literal["tpe", "random", "grid", "cmaes", "nsga2"] = "tpe"
    pruner: Literal["none", "median", "halving", "hyperband"] = "none"
    trials: int = Field(20, gt=0)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    startup_trials: int = Field(5, ge=0)
    warmup_epochs: int = Field(2, ge=0)
    heartbeat: int = Field(30, ge=1, le=3600)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    nas: NasSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TuneSpec:
        if self.objectives[0] != "metric" or len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"tune.objectives must start with 'metric' and not repeat; got {self.objectives}")
        if len(self.objectives) > 1 and self.pruner != "none":
            raise ValueError("tune.pruner must be 'none' with several tune.objectives (optuna cannot prune multi-objective studies)")
        if len(self.objectives) > 1 and self.sampler in ("cmaes", "grid"):
            raise ValueError(f"tune.sampler must be tpe, random or nsga2 with several tune.objectives; got {shown(self.sampler)}")
        if not self.params and self.nas is None:
            raise ValueError("tune needs tune.params (fields to search) or tune.nas (a layer-chain space)")
        return self


class GenerativeSpec(Spec):
    """An autoencoder, VAE or GAN run (``lamina generative``); the model section is then the judge classifier.

    ``latent`` is the code size (autoencoders) or the noise size (GAN). ``noise`` is the input noise std of a
    denoising autoencoder, ``beta`` the VAE's KL weight. ``minibatch_std`` shows a GAN's discriminator how much
    each batch's samples differ (a remedy for mode collapse). ``normal_classes`` trains on those classes only and
    scores the rest as anomalies, with the threshold at ``false_alarm_rate`` of validation normals. The judge
    (trained on real data) labels ``samples`` generated samples; a class is covered when it gets ``min_share``.
    """

    model: Literal["autoencoder", "denoising", "vae", "gan"] = "autoencoder"
    kind: Literal["dense", "conv"] = "conv"
    latent: int = Field(8, gt=0)
    width: int = Field(16, gt=0)
    noise: float = Field(0.3, ge=0)
    beta: float = Field(1.0, ge=0)
    gan_loss: Literal["nonsaturating", "hinge"] = "nonsaturating"
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    minibatch_std: bool = False
    normal_classes: list[str] | None = None
    false_alarm_rate: float = Field(0.05, gt=0, lt=1)
    judge_epochs: int = Field(30, gt=0)
    samples: int = Field(1000, gt=0)
    min_share: float = Field(0.025, gt=0, lt=1)
    coverage_every: int = Field(5, gt=0)


class RunSpec(Spec):
    """Everything one training run needs; saved resolved as the run folder's config.yaml."""

    name: str = Field("run", max_length=MAX_NAME_CHARS, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(0, ge=0, le=MAX_SEED)
    runs_dir: str = "runs"
    data: DataSpec
    model: ModelSpec = Field(default_factory=lambda: ModelSpec(arch=AUTO_ARCH))
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    continual: ContinualSpec | None = None
    tune: TuneSpec | None = None
    generative: GenerativeSpec | None = None

    @model_validator(mode="after")
    def _pretrained_text(self) -> RunSpec:
        backbone = self.model.backbone
        if backbone is None or backbone.pretrained != "minilm":
            return self
        text = self.data.text
        if text is None:
            raise ValueError("model.backbone.pretrained minilm reads text: set data.text.column to the text column")
        if "tokenizer" in text.model_fields_set and text.tokenizer != "minilm":
            raise ValueError("data.text.tokenizer must be minilm (or left out) with model.backbone.pretrained minilm, "
                             f"which reads text with its own WordPiece tokenizer; got {text.tokenizer!r}")
        text.tokenizer = "minilm"
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data with every default filled in (what config.yaml holds); no tune or generative section unless set."""
        unset = {name for name in ("tune", "generative") if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=unset or None)


def validate_section(
    model: type[BaseModel], values: dict[str, Any], path: str, extra_allowed: tuple[str, ...] = ()
) -> BaseModel:
    """Validate ``values`` against ``model``, raising a ConfigError whose messages start at ``path``."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, path, model, extra_allowed)) from None


def parse_run_spec(raw: Any, source: str = "config") -> RunSpec:
    """Validate plain data (as loaded from YAML) into a RunSpec, or raise one ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must be a mapping of sections (data, model, train, ...); got {type(raw).__name__}")
    try:
        return RunSpec.model_validate(raw)
    except ValidationError as exc:
        problems = format_validation_error(exc, "", RunSpec).splitlines()
        if len(problems) == 1:
            raise ConfigError(f"{source}: {problems[0]}") from None
        raise ConfigError(f"{source} has {exc.error_count() if len(problems) > MAX_PROBLEMS else len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)) from None


def load_config(config: str | Path | dict[str, Any], overrides: list[str] | None = None) -> RunSpec:
    """Read a YAML run config (a path) or take its plain data (a dict), apply ``key.path=value`` overrides, validate.

    A dict holds what the YAML file would (``{"data": {...}, "model": {...}, ...}``), as ``lamina.fit`` and
    ``lamina.build`` accept; it is copied, never changed. Anything else is refused with a ConfigError.
    """
    if isinstance(config, dict):
        return check_fits_machine(parse_run_spec(apply_overrides(copy.deepcopy(config), overrides or [])))
    if not isinstance(config, (str, Path)):
        raise ConfigError(f"load_config takes the path of a YAML config or a dict of its sections (data, model, "
                          f"train, ...); got {type(config).__name__}")
    path = Path(config)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    raw = parse_yaml(path.read_text(encoding="utf-8", errors="replace"), f"config file {path}")
    if raw is None:
        raise ConfigError(f"config file {path} is empty; it needs at least a data: section")
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must be a mapping of sections (data, model, train, ...); "
                          f"got {type(raw).__name__}")
    raw = resolve_data_path(apply_overrides(resolve_extends(raw, path), overrides or []))
    return check_fits_machine(parse_run_spec(raw, str(path)), str(path))


def check_fits_machine(spec: RunSpec, source: str = "config") -> RunSpec:
    """Refuse thread and worker counts far beyond this machine's cores (a million threads would hang it).

    Checked when a config is loaded to run here, not when a finished run's folder is read, so a run trained
    on a larger machine still loads on a smaller one.
    """
    limit = CORES_MULTIPLE * (os.cpu_count() or 1)
    for field, value in (("train.threads", spec.train.threads), ("data.loader_workers", spec.data.loader_workers)):
        if value is not None and value > limit:
            raise ConfigError(f"{source}: {field} must be at most {limit} ({CORES_MULTIPLE} per core on this "
                              f"{os.cpu_count()}-core machine); got {shown(value)}")
    return spec


MAX_NESTING = 200  # PyYAML slows down quadratically on deeper [ { nesting, which no config needs
MAX_CONFIG_BYTES = 1_000_000  # the largest config text read; real configs are a few kB, a 50 MB one is an attack
MAX_KEYS = 1_000  # keys in one mapping: the largest section has a few dozen fields
MAX_ALIAS_VALUES = 10_000  # values that YAML aliases (*name) may add once expanded: a billion laughs adds 10^9


def parse_yaml(text: str, source: str, error: type[Exception] = ConfigError) -> Any:
    """Parse YAML with the safe loader (no tags that build objects); any failure is one ``error`` naming ``source``.

    Before anything is built, the text must be under :data:`MAX_CONFIG_BYTES`, aliases may add at most
    :data:`MAX_ALIAS_VALUES` values once expanded (so an alias bomb is refused instead of expanded by the
    validation or an error message), no alias may contain itself, and no mapping may give a key twice (YAML
    would keep the last silently).
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise error(f"{source} is {len(text):,} characters; a config may hold at most {MAX_CONFIG_BYTES:,}")
    if text.count("[") + text.count("{") > MAX_NESTING and _nesting(text) > MAX_NESTING:
        raise error(f"{source} is not a usable config: brackets nest more than {MAX_NESTING} deep")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source, error)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{source} is not valid YAML{where}: {str(getattr(exc, 'problem', None) or exc)[:200]}") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # a bad date, a huge integer, deep nesting
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise error(f"{source} is not valid YAML: {reason}") from None
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, source: str, error: type[Exception]) -> None:
    """Refuse duplicate or too many mapping keys, self-containing aliases and aliases that expand past the budget."""
    expanded: dict[int, int] = {}  # id(node) -> values it stands for once every alias is expanded
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in expanded:
            return expanded[id(node)]
        if id(node) in open_nodes:
            raise error(f"{source}: the value at line {node.start_mark.line + 1} contains an alias (*name) of itself")
        open_nodes.add(id(node))
        total = 1
        if isinstance(node, yaml.MappingNode):
            _check_mapping(node, source, error)
            total += sum(size(key) + size(value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        open_nodes.discard(id(node))
        expanded[id(node)] = total
        if total - len(expanded) > MAX_ALIAS_VALUES:
            raise error(f"{source}: aliases (*name) expand to more than {MAX_ALIAS_VALUES:,} extra values "
                        f"(at line {node.start_mark.line + 1}); write the values out instead")
        return total

    size(root)


def _check_mapping(node: yaml.MappingNode, source: str, error: type[Exception]) -> None:
    """Refuse a mapping with more keys than any config section has, or with a key given twice."""
    if len(node.value) > MAX_KEYS:
        raise error(f"{source}: the mapping at line {node.start_mark.line + 1} has {len(node.value):,} keys; "
                    f"a config mapping may hold at most {MAX_KEYS:,}")
    lines: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue  # a merge (<<: *base) may be overridden by the keys beside it, as YAML means
        line = key.start_mark.line + 1
        if (key.tag, key.value) in lines:
            raise error(f"{source}: key {shown(key.value)} is given twice in one mapping (lines "
                        f"{lines[key.tag, key.value]} and {line}); keep one")
        lines[key.tag, key.value] = line


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def apply_overrides(raw: Any, overrides: list[str]) -> Any:
    """Set nested values from ``a.b.c=value`` strings; values are parsed as YAML scalars/lists."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a mapping of sections; got {type(raw).__name__}")
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"an override must be key.path=value; got {shown(item)}")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
            value = text
        node = raw
        parts = key.strip().split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                raise ConfigError(f"override {shown(key)}: {'.'.join(parts[: depth + 1])} is not a section; "
                                  f"got {shown(child)}")
            node = child
        node[parts[-1]] = value
    return raw


def save_config(spec: RunSpec, path: str | Path) -> None:
    """Write the resolved spec as YAML, atomically."""
    from lamina.files import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(spec.to_dict(), sort_keys=False))


MAX_PROBLEMS = 20  # problems listed in one message; 100,000 unknown keys are reported as 20 and a count


def format_validation_error(
    exc: ValidationError, prefix: str, root: type[BaseModel], extra_allowed: tuple[str, ...] = ()
) -> str:
    """Turn pydantic's errors into lamina's grammar: ``<path> must be <constraint>; got <value>``."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = _join_path(prefix, loc)
        kind = err["type"]
        value = err.get("input")
        message = err["msg"]
        if kind == "extra_forbidden":
            allowed = sorted(set(_fields_at(root, loc[:-1])) | set(extra_allowed))
            name = str(loc[-1])
            lines.append(f"{path} is not a known field.{did_you_mean(name, allowed)} Allowed: {', '.join(allowed)}")
        elif kind == "missing":
            lines.append(f"{path} is required")
        elif kind in ("value_error", "assertion_error"):
            lines.append(message.removeprefix("Value error, ").removeprefix("Assertion failed, "))
        elif kind == "literal_error":
            expected = message.removeprefix("Input should be ")
            lines.append(f"{path} must be {expected}; got {shown(value)}.{did_you_mean(str(value), _literal_choices(expected))}")
        elif message.startswith("Input should be "):
            lines.append(f"{path} must be {message.removeprefix('Input should be ')}; got {shown(value)}")
        else:
            lines.append(f"{path}: {message[:1].lower()}{message[1:]}; got {shown(value)}")
        if len(lines) > MAX_PROBLEMS:
            break
    lines = list(dict.fromkeys(lines))
    if len(lines) > MAX_PROBLEMS:
        lines[MAX_PROBLEMS:] = [f"and {len(exc.errors(include_url=False)) - MAX_PROBLEMS:,} more problems"]
    return "\n".join(lines)


def _join_path(prefix: str, loc: list[Any]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = part if len(str(part)) <= SHOWN_CHARS else shown(part)
            out = f"{out}.{part}" if out else str(part)
    return out or "config"


def _fields_at(root: type[BaseModel], loc: list[Any]) -> list[str]:
    model: Any = root
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _literal_choices(expected: str) -> list[str]:
    return [part.strip(" '\"") for part in expected.replace(" or ", ", ").split(",")]
