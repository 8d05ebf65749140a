"""One trial: build the sampled config's model, train it with lamina's loop, score it.

Data is prepared once per worker and reused by every trial whose data section is the
same, so a trial costs only its training. A :class:`TrialReporter` callback feeds the
monitored validation metric to optuna after every epoch and stops a trial the pruner
gives up on; it keeps the best epoch's weights in memory, so the test metric is the
best epoch's. The trial's config sets ``train.monitor`` to the searched metric, so
training it again (``best.yaml``) restores that same epoch and reproduces the score.
A trial that samples the parameters of a finished trial takes its result untrained.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from lamina.config import RunSpec, TuneSpec, parse_run_spec
from lamina.data.prepare import Prepared, prepare_data
from lamina.device import resolve_device
from lamina.evaluate.metrics import higher_is_better, resolve_epoch_metrics
from lamina.evaluate.scoring import score
from lamina.nn.build import build_model
from lamina.nn.outputs import model_outputs
from lamina.train.callbacks import Callback, EarlyStopping, StopTraining, check_monitor, improved
from lamina.train.loop import State, TrainingDiverged, fit
from lamina.trainer import monitors, seed_everything
from lamina.tune.nas import sample_chain
from lamina.tune.space import apply_params, sample_params


class TrialReporter(Callback):
    """Report the best-so-far monitored value to the optuna trial each epoch; stop when it should be pruned.

    Only single-objective studies take intermediate values (optuna refuses them with
    several objectives), so ``report`` is False there and the callback just keeps the best epoch.
    """

    def __init__(self, trial: Any, monitor: str, mode: str, prune: bool, report: bool = True) -> None:
        self.trial, self.monitor, self.mode, self.prune, self.report = trial, monitor, mode, prune, report
        self.best: float | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.epochs = 0
        self.pruned = False

    def on_epoch_end(self, state: State) -> None:
        """Track the best epoch, report it, and raise StopTraining when the pruner says so."""
        self.epochs += 1
        value = state.logs[self.monitor]
        if improved(value, self.best, self.mode):
            self.best = value
            self.best_weights = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
        if self.best is None or not self.report:
            return
        self.trial.report(self.best, self.epochs)
        if self.prune and self.trial.should_prune():
            self.pruned = True
            raise StopTraining(f"pruned after epoch {self.epochs}")


@dataclass
class Outcome:
    """What a trial produced: objective values (None when diverged), counts and scores for the report."""

    values: list[float] | None
    pruned: bool
    epochs: int
    params: int
    config: dict[str, Any]
    test: dict[str, float] = field(default_factory=dict)
    note: str = ""


class DataCache:
    """Prepared data keyed by the data section, so trials with the same data prepare it once."""

    def __init__(self) -> None:
        self._cache: dict[str, Prepared] = {}

    def get(self, spec: RunSpec) -> Prepared:
        """The prepared data of ``spec.data`` (prepared on first use)."""
        key = json.dumps(spec.data.model_dump(mode="json"), sort_keys=True)
        if key not in self._cache:
            self._cache[key] = prepare_data(spec.data)
        return self._cache[key]


def resolve_metric(tune: TuneSpec, data: Prepared, spec: RunSpec) -> tuple[str, str]:
    """The monitored metric and its optuna direction ('auto': val_accuracy for classification, else val_loss)."""
    available = monitors(data, spec.train.epoch_metrics)
    metric = tune.metric
    if metric == "auto":
        metric = next(m for m in ("val_accuracy", "val_loss", "train_loss") if m in available)
    check_monitor(metric, available, "tune.metric")
    direction = tune.direction
    if direction == "auto":
        direction = "maximize" if higher_is_better(metric) else "minimize"
    return metric, direction


def run_trial(trial: Any, raw: dict[str, Any], tune: TuneSpec, cache: DataCache, prune: bool) -> Outcome:
    """Sample a config for ``trial``, train it and return its objective values."""
    params = sample_params(trial, tune, raw)
    data = cache.get(parse_run_spec(apply_params(raw, params), "trial config"))
    chain = sample_chain(trial, tune.nas, data.input_shape, data.n_outputs) if tune.nas is not None else None
    config = apply_params(raw, params, chain)
    twin = finished_twin(trial)
    if twin is not None:  # training is seeded, so the same configuration would score the same again
        return Outcome(list(twin.values), False, 0, twin.user_attrs["params"], twin.user_attrs["config"],
                       twin.user_attrs.get("test", {}), note=f"same configuration as trial {twin.number}; its result reused")
    spec = parse_run_spec(config, f"trial {trial.number} config")
    metric, direction = resolve_metric(tune, data, spec)
    if "train.monitor" not in params:  # the config keeps the epoch the trial was scored on (see restore_best)
        config["train"] = {**config.get("train", {}), "monitor": metric}
        spec.train.monitor = metric
    seed_everything(spec.seed)
    built = build_model(spec.model, data.input_shape, data.output_shape, data.vocab, data.categories)
    reporter = TrialReporter(trial, metric, "max" if direction == "maximize" else "min", prune,
                             report=len(tune.objectives) == 1)
    callbacks: list[Callback] = [reporter]
    if spec.train.early_stopping is not None:
        es = spec.train.early_stopping
        callbacks.append(EarlyStopping.from_spec(es))
    device = resolve_device(spec.train.device)
    try:
        fit(built.model, data, spec.train, callbacks, device, seed=spec.seed, batch_path=spec.data.batch_path)
    except TrainingDiverged as exc:
        return Outcome(None, False, reporter.epochs, built.params, config, note=str(exc))
    if reporter.best_weights is not None:
        built.model.load_state_dict(reporter.best_weights)
    values = [float(reporter.best) if reporter.best is not None else float("nan")]
    for objective in tune.objectives[1:]:
        values.append(float(built.params) if objective == "params" else latency_ms(built.model, data, device))
    test = test_scores(built.model, data, spec, device) if len(data.test) else {}
    return Outcome(values, reporter.pruned, reporter.epochs, built.params, config, test)


def finished_twin(trial: Any) -> Any:
    """A finished trial of the same study that sampled exactly these parameters (None when there is none)."""
    from optuna.trial import TrialState

    for done in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if done.params == trial.params and "config" in done.user_attrs:
            return done
    return None


def test_scores(model: torch.nn.Module, data: Prepared, spec: RunSpec, device: torch.device) -> dict[str, float]:
    """The task's epoch metrics on the test split (for the report only; trials are chosen on validation)."""
    outputs = model_outputs(model, data.test.x, spec.train.batch_size, device)
    names = resolve_epoch_metrics(spec.train.epoch_metrics, data.task)
    scores = score(outputs, data.test.y, data.preprocessor.target, names)
    return {k: float(v) for k, v in scores.items() if isinstance(v, (int, float))}


@torch.no_grad()
def latency_ms(model: torch.nn.Module, data: Prepared, device: torch.device, batch: int = 64, repeats: int = 7) -> float:
    """Median milliseconds of one forward pass over a batch of ``batch`` validation (or training) rows."""
    model.eval()
    source = data.val if len(data.val) else data.train
    x = source.x[:batch].to(device)
    model(x)  # warm up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 4)

