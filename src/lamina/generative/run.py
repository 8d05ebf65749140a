"""Generative runs: train an autoencoder, VAE or GAN from a config, and use the run folder afterwards.

The run folder holds config.yaml, preprocess.json, model.safetensors (the
autoencoder, or the GAN's generator and discriminator), judge.safetensors (the
model section's classifier, for VAE and GAN runs), metrics.jsonl (per epoch),
losses.jsonl (a GAN's D and G loss per step), checkpoints/ (resumable, as any
run's), summary.json, figures/*.png and report.html. Training is the one loop,
:func:`lamina.train.loop.fit`, with the family's step. ``lamina embed`` and ``lamina generate`` rebuild the model from
those files alone.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.config import GenerativeSpec, RunSpec, load_config, parse_run_spec, save_config
from lamina.data.prepare import Prepared, Split, prepare_data
from lamina.data.preprocess import Preprocessor
from lamina.data.readers import read_csv, read_npz
from lamina.device import resolve_device
from lamina.errors import ConfigError, DataError, RunFolderError
from lamina.files import atomic_write_bytes, atomic_write_text, load_tensors, read_json, save_tensors, write_json
from lamina.generative import figures
from lamina.generative.anomaly import anomaly_report, pca_errors, threshold_for
from lamina.generative.judge import CoverageMonitor, coverage, train_judge
from lamina.generative.report import write_generative_report
from lamina.nn.build import build_model
from lamina.nn.models.autoencoder import AutoEncoder
from lamina.nn.models.gan import GAN
from lamina.runs import RunFolder, write_rows_csv
from lamina.evaluate.metrics import higher_is_better
from lamina.train.alternating import Adversarial
from lamina.train.callbacks import (Callback, EarlyStopping, MetricsLog, Progress, TensorBoardLog,
                                    check_monitor)
from lamina.train.checkpoint import Checkpoints, load_best_weights
from lamina.train.fields import refuse_train_fields
from lamina.train.hooks import family_observers
from lamina.train.loop import TrainingDiverged, fit
from lamina.train.reconstruction import Reconstruction, reconstruction_errors

GRID = 64


@dataclass
class GenerativeRun:
    """A trained generative model with its resolved config and fitted preprocessing."""

    folder: RunFolder
    spec: RunSpec
    preprocessor: Preprocessor
    model: torch.nn.Module

    @property
    def settings(self) -> GenerativeSpec:
        """The run's generative section."""
        return self.spec.generative


def bounded_inputs(spec: RunSpec, input_shape: tuple[int, ...]) -> bool:
    """Whether inputs are min-max scaled to [0, 1] (so outputs go through a sigmoid)."""
    return spec.data.scale == "minmax" or (spec.data.scale == "auto" and len(input_shape) >= 2)


def build_generative(spec: RunSpec, input_shape: tuple[int, ...]) -> torch.nn.Module:
    """The autoencoder or GAN that the run's generative section describes, for inputs of ``input_shape``."""
    g = spec.generative
    bounded = bounded_inputs(spec, input_shape)
    if g.model == "gan":
        if not bounded:
            raise ConfigError("generative.model 'gan' needs inputs scaled to [0, 1]: set data.scale to minmax")
        return GAN(input_shape, g.kind, g.latent, g.width, g.minibatch_std)
    return AutoEncoder(input_shape, g.kind, g.latent, g.width, variational=g.model == "vae", bounded=bounded)


def _normal_rows(split: Split, normal: list[int] | None) -> Split:
    """The split's rows of the normal classes (all rows when no normal classes are set)."""
    if normal is None:
        return split
    keep = torch.isin(split.y, torch.tensor(normal))
    return Split(split.x[keep], split.y[keep], split.rows[keep.numpy()])


def _normal_indices(spec: GenerativeSpec, data: Prepared) -> list[int] | None:
    if spec.normal_classes is None:
        return None
    classes = data.preprocessor.target.classes or []
    unknown = [c for c in spec.normal_classes if c not in classes]
    if unknown or not spec.normal_classes:
        raise ConfigError(f"generative.normal_classes must name classes of the data ({', '.join(classes)}); "
                          f"got {spec.normal_classes}")
    if len(spec.normal_classes) == len(classes):
        raise ConfigError("generative.normal_classes names every class; leave at least one out as the anomalies")
    return [classes.index(c) for c in spec.normal_classes]


def train_generative(config: RunSpec | dict[str, Any] | str | Path, progress: str = "auto", resume: bool = False,
                     extra_callbacks: list[Callback] | None = None) -> dict[str, Any]:
    """Train the config's generative model into a new run folder; returns its summary (also summary.json).

    Training is :func:`lamina.train.loop.fit` with the family's step, so the train section acts as in
    any run (optimizer, schedule, clipping, precision, accumulation, early stopping, checkpoints). With
    ``resume``, the newest unfinished run of the config's name continues from its newest valid checkpoint.
    """
    from lamina.trainer import _resume_checkpoint, unfinished_run

    spec = config.model_copy(deep=True) if isinstance(config, RunSpec) else (
        parse_run_spec(config) if isinstance(config, dict) else load_config(config))
    if spec.generative is None:
        raise ConfigError("a generative run needs a generative: section (model: autoencoder | denoising | vae | gan)")
    g, t = spec.generative, spec.train
    check_train_fields(spec)
    if g.model == "gan" and "betas" not in t.optimizer.model_fields_set:
        t.optimizer.betas = (0.5, 0.999)  # DCGAN's momentum setting, unless the config sets its own
    if t.threads is not None:
        torch.set_num_threads(t.threads)
    torch.manual_seed(spec.seed)
    data = prepare_data(spec.data)
    device = resolve_device(t.device)
    normal = _normal_indices(g, data)
    model = build_generative(spec, data.input_shape)
    folder = unfinished_run(spec.runs_dir, spec.name) if resume else None
    checkpoint = _resume_checkpoint(folder, spec, data, progress) if folder is not None else None
    folder = folder or RunFolder.create(spec.runs_dir, spec.name)
    save_config(spec, folder.config)
    write_json(folder.preprocess, data.preprocessor.to_json())
    classes = data.preprocessor.target.classes or []
    out: dict[str, Any] = {"name": spec.name, "model": g.model, "kind": g.kind, "latent": g.latent,
                           "params": sum(p.numel() for p in model.parameters()), "data": data.source,
                           "samples": {"train": len(data.train), "val": len(data.val), "test": len(data.test)}}

    judge, monitor = None, None
    if g.model in ("vae", "gan") and data.task == "multiclass":
        judge, out["judge_accuracy"] = train_judge(spec.model, data, g.judge_epochs, t.batch_size, device, spec.seed)
        save_tensors(folder.root / "judge.safetensors", judge.state_dict())
        monitor = CoverageMonitor(model.sample, judge, classes, min(g.samples, 500), g.min_share,
                                  g.coverage_every, progress="none" if progress == "none" else "plain")

    trained = replace(data, train=_normal_rows(data.train, normal), val=_normal_rows(data.val, normal))
    step = Adversarial(g.gan_loss, g.label_smoothing) if g.model == "gan" else \
        Reconstruction(g.noise if g.model == "denoising" else 0.0, g.beta)
    checkpoints, callbacks = loop_callbacks(spec, folder, progress, step, len(trained.val) > 0 and g.model != "gan")
    # train.diagnose: the monitor, judged against the mean input's MSE (an autoencoder's targets are its inputs)
    observers = family_observers(t, trained, device, (trained.train.x, "regression")) if g.model in DIAGNOSED \
        else None
    callbacks = callbacks + ([monitor] if monitor else []) + (extra_callbacks or []) + \
        (observers.observers if observers else []) + [checkpoints]
    started = time.perf_counter()
    torch.manual_seed(spec.seed)
    try:
        state = fit(model, trained, t, callbacks, device, seed=spec.seed, batch_path=spec.data.batch_path,
                    workers=spec.data.loader_workers, resume=checkpoint, step=step)
    except TrainingDiverged as exc:
        if observers:
            observers.finish(folder.root, progress, diverged=str(exc))
        raise
    out["train_seconds"] = round(time.perf_counter() - started, 3)
    out["epochs_run"] = len(state.history)
    out["stopped_early"] = state.stopped_early
    out["final_epoch"] = state.history[-1] if state.history else {}
    if t.restore_best and g.model != "gan" and checkpoints.best is not None:  # a GAN keeps its last weights
        model.load_state_dict(load_best_weights(folder.checkpoints))
        out["best_epoch"] = checkpoints.best_epoch
    model.cpu().eval()
    save_tensors(folder.weights, model.state_dict())
    steps = _step_losses(state.loss_log) if g.model == "gan" else []
    if g.model == "gan":
        _write_lines(folder.losses, steps)

    figures_dir = folder.root / "figures"
    test = data.test if len(data.test) else data.val
    if isinstance(model, AutoEncoder):
        out.update(_autoencoder_results(model, data, normal, g, test, figures_dir, classes))
    if judge is not None:
        samples = model.sample(g.samples, torch.Generator().manual_seed(spec.seed))
        out["coverage"] = coverage(judge.cpu(), samples, classes, g.min_share).to_json()
        out["coverage_history"] = monitor.record
        out["warnings"] = monitor.warnings
        names = [classes[i] for i in judge(samples[:GRID]).argmax(1).tolist()]
        figures.image_grid(samples[:GRID], figures_dir / "samples.png",
                           f"{g.model} samples (judge's labels; {out['coverage']['covered']}/{len(classes)} classes)",
                           names)
    elif g.model in ("vae", "gan"):  # no class labels to judge by: the grid alone
        figures.image_grid(model.sample(GRID, torch.Generator().manual_seed(spec.seed)), figures_dir / "samples.png",
                           f"{g.model} samples")
    if g.model == "gan":
        figures.gan_losses(steps, figures_dir / "gan_losses.png")
    write_json(folder.summary, out)
    if observers:
        observers.finish(folder.root, progress)  # monitor.json and diagnosis.json
    write_generative_report(folder.root, out)
    out["folder"] = str(folder.root)
    return out


# What each train field does in a generative run: it acts as in any run, or it is refused when set.
ACTING = ("epochs", "batch_size", "accumulate_steps", "optimizer", "schedule", "l1", "l2", "clip_norm",
          "clip_value", "early_stopping", "monitor", "restore_best", "device", "precision", "threads", "tensorboard",
          "checkpoint", "diagnose", "diagnose_every")
REFUSED = {"loss": "the family's step sets its loss", "label_smoothing": "use generative.label_smoothing",
           "huber_delta": "the family's step sets its loss", "epoch_metrics": "there are no labels to score",
           "class_weight": "there are no classes to weight",
           "log": "generative runs log to TensorBoard only (train.tensorboard)",
           "adversarial": "it needs a classifier", "lr_groups": "it needs a backbone", "selfsup": "see lamina pretrain",
           "augment": "set generative.noise for a denoising autoencoder", "compile": "the steps call the model's parts"}
# train.diagnose watches an autoencoder or a denoising one (its input-blind baseline: the mean input's MSE);
# the VAE's and the GAN's losses have no baseline the monitor knows, so it is refused there when set.
DIAGNOSED = ("autoencoder", "denoising")
NOT_DIAGNOSED = {"diagnose": "its loss has no input-blind baseline the monitor knows (autoencoder and denoising have)",
                 "diagnose_every": "see train.diagnose"}


def check_train_fields(spec: RunSpec) -> None:
    """Refuse the train fields a generative family cannot use, naming the field and the family, before training.

    A field is refused when the config sets it (a default is not the user's request); ``restore_best`` is
    refused for a GAN only (no loss tells a better generator; its last weights are kept), ``diagnose`` and
    ``diagnose_every`` for a VAE and a GAN (see NOT_DIAGNOSED).
    """
    t, family = spec.train, spec.generative.model
    refused = dict(REFUSED) | ({} if family in DIAGNOSED else NOT_DIAGNOSED)
    if family == "gan" and t.restore_best:
        refused["restore_best"] = "no loss tells a better generator"
    refuse_train_fields(t, refused, family, f"generative.model: {family}")


def loop_callbacks(spec: RunSpec, folder: RunFolder, progress: str, step: Any, has_val: bool
                   ) -> tuple[Checkpoints, list[Callback]]:
    """The run folder's checkpoints (to go last) and the loop's other callbacks: progress, logs, early stopping."""
    t = spec.train
    available = ["train_loss", *([] if len(step.loss_names) == 1 else step.loss_names)]
    available += ["val_loss"] if has_val else []
    monitor = t.monitor if t.monitor in available else "train_loss"
    if "monitor" in t.model_fields_set:
        check_monitor(t.monitor, available, "train.monitor")
    mode = "max" if higher_is_better(monitor) else "min"
    checkpoints = Checkpoints(folder.checkpoints, t.checkpoint, monitor, mode, spec.to_dict())
    callbacks: list[Callback] = [Progress(progress), MetricsLog(folder.metrics)]
    if t.tensorboard:
        callbacks.append(TensorBoardLog(folder.tensorboard))
    if t.early_stopping is not None:
        es = t.early_stopping
        check_monitor(es.monitor, available, "train.early_stopping.monitor")
        callbacks.append(EarlyStopping.from_spec(es))
    return checkpoints, callbacks


def _step_losses(loss_log: list[torch.Tensor]) -> list[dict[str, Any]]:
    """A GAN's per-step D and G losses (losses.jsonl and its figure) from the loop's per-batch log."""
    rows = torch.cat(loss_log).tolist() if loss_log else []
    return [{"step": i + 1, "d_loss": d, "g_loss": g} for i, (d, g) in enumerate(rows)]


def _autoencoder_results(model: AutoEncoder, data: Prepared, normal: list[int] | None, g: GenerativeSpec,
                         test: Split, figures_dir: Path, classes: list[str]) -> dict[str, Any]:
    """Test reconstruction error beside PCA's, anomaly scores when normal classes are set, and figures."""
    out = autoencoder_scores(model, data, normal, g, test)
    shown = test.x[:16]
    with torch.no_grad():
        rebuilt = model(shown)
    rebuilt = rebuilt[0] if model.variational else rebuilt
    figures.image_grid(torch.cat([shown, rebuilt]), figures_dir / "reconstructions.png",
                       "test inputs (first half) and their reconstructions (second half)")
    with torch.no_grad():
        codes = model.encode(test.x)
    labels = [classes[i] for i in test.y.tolist()] if classes else ["all"] * len(test)
    figures.latent_map(codes, labels, figures_dir / "latent.png", f"{g.model} codes of the test split")
    return out


def autoencoder_scores(model: AutoEncoder, data: Prepared, normal: list[int] | None, g: GenerativeSpec,
                       test: Split) -> dict[str, Any]:
    """Test reconstruction MSE (normal rows) beside PCA's, and the anomaly reports when normal classes are set.

    Training writes these into summary.json and ``lamina evaluate`` recomputes them from the run folder.
    """
    out: dict[str, Any] = {}
    train_x = _normal_rows(data.train, normal).x
    clean = _normal_rows(test, normal).x
    out["test_mse"] = float(reconstruction_errors(model, clean).mean())
    out["pca_test_mse"] = float(pca_errors(train_x, clean, g.latent).mean())
    if normal is not None:
        is_anomaly = ~torch.isin(test.y, torch.tensor(normal))
        val_normals = _normal_rows(data.val, normal).x
        scores = reconstruction_errors(model, test.x)
        out["anomaly"] = anomaly_report(scores, is_anomaly,
                                        threshold_for(reconstruction_errors(model, val_normals), g.false_alarm_rate))
        pca_threshold = threshold_for(pca_errors(train_x, val_normals, g.latent), g.false_alarm_rate)
        out["pca_anomaly"] = anomaly_report(pca_errors(train_x, test.x, g.latent), is_anomaly, pca_threshold)
    return out


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def load_generative(path: str | Path) -> GenerativeRun:
    """Rebuild a generative run from its folder (config, preprocessing, safetensors weights; nothing unpickled)."""
    folder = RunFolder(path)
    spec = parse_run_spec(folder.read_config(), str(folder.config))
    if spec.generative is None:
        raise RunFolderError(f"{folder.root} is not a generative run (its config has no generative: section)")
    if not folder.weights.is_file():
        raise RunFolderError(f"{folder.weights} is missing; the run has no trained weights (did training finish?)")
    prep = Preprocessor.from_json(read_json(folder.preprocess), str(folder.preprocess))
    model = build_generative(spec, tuple(prep.inputs.shape))
    try:
        model.load_state_dict(load_tensors(folder.weights))
    except RuntimeError as exc:
        raise RunFolderError(f"{folder.weights} does not match config.yaml's generative model: "
                             f"{str(exc).splitlines()[0]}") from None
    return GenerativeRun(folder, spec, prep, model.eval())


def _read_inputs(run: GenerativeRun, path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return run.preprocessor.inputs.transform_table(read_csv(path))
    if suffix == ".npz":
        key = run.spec.data.x_key
        return run.preprocessor.inputs.transform_array(read_npz(path, (key,))[key], f"{path} array '{key}'")
    raise DataError(f"input file {path} must be a .csv or .npz file; got '{suffix or 'no extension'}'")


def embed(run: GenerativeRun | str | Path, input_path: str | Path, output: str | Path | None = None) -> Path:
    """Write the latent codes of an input file's rows as CSV (columns z0..z{latent-1}); returns its path."""
    if not isinstance(run, GenerativeRun):
        run = load_generative(run)
    if not isinstance(run.model, AutoEncoder):
        raise ConfigError(f"lamina embed needs an autoencoder or VAE run; {run.folder.root} is a "
                          f"{run.settings.model} run")
    path = Path(input_path)
    if not path.is_file():
        raise DataError(f"input file {path} does not exist")
    x = torch.from_numpy(_read_inputs(run, path))
    with torch.no_grad():
        codes = torch.cat([run.model.encode(chunk) for chunk in x.split(512)]) if len(x) else torch.empty(0, 0)
    if len(codes) == 0:
        raise DataError(f"input file {path} holds no rows")
    target = Path(output) if output else run.folder.root / "embeddings" / f"{path.stem}.csv"
    write_rows_csv(target, [{f"z{j}": float(v) for j, v in enumerate(row)} for row in codes.tolist()])
    return target


def generate(run: GenerativeRun | str | Path, n: int = GRID, seed: int = 0) -> dict[str, Any]:
    """Sample ``n`` new inputs: a PNG grid and an NPZ (array ``x``, raw data units) in the run's generated/."""
    if not isinstance(run, GenerativeRun):
        run = load_generative(run)
    if n < 1:
        raise ConfigError(f"n must be a positive integer; got {n}")
    if run.settings.model not in ("vae", "gan"):
        raise ConfigError(f"lamina generate needs a vae or gan run; {run.folder.root} is a {run.settings.model} run")
    samples = run.model.sample(n, torch.Generator().manual_seed(seed))
    prep = run.preprocessor.inputs
    raw = samples.flatten(1).double().numpy() * np.asarray(prep.divisor) + np.asarray(prep.offset)
    out_dir = run.folder.root / "generated"
    buffer = io.BytesIO()
    np.savez(buffer, x=raw.reshape(samples.shape).astype(np.float32))
    atomic_write_bytes(out_dir / f"samples-{n}-seed{seed}.npz", buffer.getvalue())
    result: dict[str, Any] = {"n": n, "npz": str(out_dir / f"samples-{n}-seed{seed}.npz")}
    judge_file = run.folder.root / "judge.safetensors"
    labels = None
    if judge_file.is_file() and run.preprocessor.target.classes:
        classes = run.preprocessor.target.classes
        judge = build_model(run.spec.model, tuple(prep.shape), len(classes)).model
        judge.load_state_dict(load_tensors(judge_file))
        found = coverage(judge.eval(), samples, classes, run.settings.min_share)
        result["coverage"] = found.to_json()
        with torch.no_grad():
            labels = [classes[i] for i in judge(samples).argmax(1).tolist()]
    result["grid"] = str(figures.image_grid(samples, out_dir / f"samples-{n}-seed{seed}.png",
                                            f"{n} {run.settings.model} samples", labels))
    return result


def score_anomalies(run: GenerativeRun | str | Path, input_path: str | Path,
                    output: str | Path | None = None) -> dict[str, Any]:
    """Reconstruction-error anomaly scores for an input file's rows, flagged against the run's validation threshold.

    Writes a CSV (columns score, anomaly) and returns its path with the threshold and the flagged count.
    """
    if not isinstance(run, GenerativeRun):
        run = load_generative(run)
    if not isinstance(run.model, AutoEncoder):
        raise ConfigError(f"anomaly scores need an autoencoder run; {run.folder.root} is a {run.settings.model} run")
    saved = read_json(run.folder.summary) if run.folder.summary.is_file() else {}
    if "anomaly" not in saved:
        raise RunFolderError(f"{run.folder.root} has no anomaly threshold: train it with generative.normal_classes set")
    path = Path(input_path)
    if not path.is_file():
        raise DataError(f"input file {path} does not exist")
    scores = reconstruction_errors(run.model, torch.from_numpy(_read_inputs(run, path)))
    threshold = float(saved["anomaly"]["threshold"])
    target = Path(output) if output else run.folder.root / "anomaly" / f"{path.stem}.csv"
    write_rows_csv(target, [{"score": float(s), "anomaly": int(s > threshold)} for s in scores.tolist()])
    return {"scores": str(target), "threshold": threshold, "rows": len(scores), "flagged": int((scores > threshold).sum())}
