"""The ``lamina`` command line: each command is a thin call into a module.

User mistakes (a bad config, file or shape) print one message and exit with
status 2; they never show a traceback.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from lamina.errors import LaminaError, LaminaWarning

# click's UsageError (typer >= 0.2x carries its own click; typer.BadParameter is the public subclass of it)
UsageError = next(k for k in typer.BadParameter.__mro__ if k.__name__ == "UsageError")


class OneLineErrors(TyperGroup):
    """The ``lamina`` command group: a command-line mistake (unknown option or command, missing argument, a
    value of the wrong type) prints one ``error:`` line naming the command and exits 2, like lamina's own errors."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the command line; in standalone mode, turn click's usage errors into one line."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``lamina`` or ``lamina lab``: the help, as before
                exc.show()
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if exc.ctx is not None else "lamina"
            typer.echo(f"error: {where}: {' '.join(exc.format_message().split())} (see {where} --help)", err=True)
            sys.exit(2)
        except typer.Abort:
            typer.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    name="lamina",
    help="lamina: describe a model by chaining layers, train it with sound defaults, evaluate and predict.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

SetOption = typer.Option(None, "--set", help="Override a config field, e.g. --set train.epochs=5 (repeatable).")


def _progress_style(value: str) -> str:
    """Refuse an unknown --progress while the command line is read, before any work starts."""
    from lamina.train.callbacks import check_progress

    try:
        return check_progress(value, "--progress")
    except LaminaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


ProgressOption = typer.Option("auto", "--progress", help="auto | bar | plain | none", callback=_progress_style)


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn lamina's own errors into a one-line message and exit status 2; end with every report drawn."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from lamina.report.background import wait_for_reports

        try:
            with warnings.catch_warnings():  # the documented way to route warnings; restored on exit
                warnings.showwarning = _warning_line(warnings.showwarning)
                return command(*args, **kwargs)
        except LaminaError as exc:
            typer.echo(f"error: {with_flag(command, str(exc))}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        finally:
            wait_for_reports()  # a command's run folders are whole when it ends (figures are drawn in the background)

    return wrapper


def with_flag(command: Callable[..., Any], message: str) -> str:
    """``message`` with its subject written as the command's flag when it names one of the command's options.

    Library messages name the parameter or field a Python user set (``prune_mode must be one of ...``);
    on the command line the same value came from a flag, so the CLI shows ``--prune-mode must be one of ...``.
    """
    subject, _, rest = message.partition(" ")
    option = getattr(inspect.signature(command).parameters.get(subject), "default", None)
    if not isinstance(option, typer.models.OptionInfo):
        return message
    flags = [d for d in option.param_decls or () if d.startswith("--")]
    return f"{flags[0] if flags else '--' + subject.replace('_', '-')} {rest}"


def _warning_line(show_other: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints lamina's own warnings as one ``warning:`` line on stderr."""

    def show(message: Any, category: type[Warning], *rest: Any, **kwargs: Any) -> None:
        if issubclass(category, LaminaWarning):
            typer.echo(f"warning: {message}", err=True)
        else:
            show_other(message, category, *rest, **kwargs)

    return show


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


@app.command()
@friendly
def demo(runs_dir: str = typer.Option("runs", help="Where the run folder goes."), progress: str = ProgressOption) -> None:
    """Train a small CNN on scikit-learn's digits and show its test metrics.

    Example: lamina demo
    """
    from lamina.demo import demo_spec
    from lamina.trainer import train as train_run

    run = train_run(demo_spec(runs_dir), progress=progress)
    _show_results(run.folder.root)


@app.command()
@friendly
def train(
    config: Path = typer.Argument(..., help="A run config (YAML)."),
    set_: list[str] = SetOption,
    progress: str = ProgressOption,
    resume_: bool = typer.Option(False, "--resume", help="Continue this config's interrupted run from its newest valid checkpoint."),
    nproc: int = typer.Option(1, "--nproc", help="Data-parallel processes on this machine (torchrun; gloo on CPU, nccl on GPU)."),
    remedy: bool = typer.Option(False, "--remedy", help="Diagnose the run, apply the named remedies, retrain, report before and after."),
    cv: int | None = typer.Option(None, "--cv", help="K-fold cross-validation: K runs, mean and std per metric, cv.json."),
    sweep: list[str] = typer.Option(None, "--sweep", help="Train every combination: key.path=v1,v2,... (repeatable; a grid through the tuner)."),
) -> None:
    """Train the run a config describes; prints test metrics and the run folder.

    Without a model section (or with model.arch: auto) lamina picks the model from the data and says which.

    Example: lamina train examples/digits_cnn.yaml --set train.epochs=5 --nproc 2
    With --remedy: lamina train examples/digits_mlp.yaml --remedy
    With --cv: lamina train examples/breast_cancer_mlp.yaml --cv 5
    With --sweep: lamina train examples/digits_mlp.yaml --sweep train.optimizer.lr=1e-3,1e-2 --sweep model.hidden=[32],[64]
    Preference tuning (a preference: section): lamina train dpo.yaml  (DPO or a reward model on pairs.jsonl)
    With --resume (any family: language models and U-Net configs too): lamina train examples/language/shakespeare_char_lm.yaml --resume
    """
    import os

    from lamina.config import load_config
    from lamina.lm.config import is_language_config, is_preference_config, read_raw_config
    from lamina.segment.folder import is_segmentation_config
    from lamina.trainer import train as train_run

    if is_preference_config(read_raw_config(config, set_ or [])):  # DPO or a reward model on the user's pairs
        _train_preference(config, set_ or [], progress, resume_, nproc != 1 or remedy or cv is not None or bool(sweep))
        return
    if sweep:
        if resume_ or remedy or nproc != 1:
            raise LaminaError("--sweep trains each combination as a new run in one process; "
                              "drop --resume, --remedy and --nproc (rerunning the same sweep resumes it)")
        _sweep(config, sweep, set_ or [])
        return
    family = "language model" if is_language_config(read_raw_config(config, set_ or [])) else \
        "U-Net" if is_segmentation_config(read_raw_config(config, set_ or [])) else None
    if remedy and family:  # its diagnosis is written; the remedies retrain a supervised run
        raise LaminaError(f"--remedy retrains a supervised run with the diagnosis's remedies; {config} trains a "
                          f"{family} (read its diagnosis.json and change the config); drop --remedy")
    if is_language_config(read_raw_config(config, set_ or [])):
        _train_language_model(config, set_ or [], progress, resume_, nproc)
        return
    if is_segmentation_config(read_raw_config(config, set_ or [])):  # data.masks: the U-Net on the user's images
        _train_segmentation_folder(config, set_ or [], progress, resume_)
        return
    spec = load_config(config, set_ or [])  # a bad config fails here, before any process starts
    if spec.generative is not None or spec.train.selfsup is not None:
        if remedy or cv is not None or nproc != 1:
            raise LaminaError(f"{config} trains a {'generative model' if spec.generative else 'self-supervised encoder'}"
                              " in one process; drop --remedy, --cv and --nproc")
        (_train_generative if spec.generative is not None else _pretrain)(spec, progress, resume_)
        return
    if cv is not None:
        from lamina.evaluate.crossval import cross_validate, format_cv

        typer.echo(format_cv(cross_validate(spec, cv, progress)))
        return
    if remedy:
        if nproc != 1:
            from lamina.errors import ConfigError

            raise ConfigError(f"--remedy trains in one process; drop --nproc (got --nproc {nproc})")
        from lamina.diagnose.remedies import format_remedy, train_with_remedies

        report = train_with_remedies(spec, progress=progress)
        typer.echo(format_remedy(report))
        _refresh_report(Path(report.get("after", report["before"])["run"]))
        return
    if nproc != 1 and "WORLD_SIZE" not in os.environ:
        from lamina.train.distributed import launch

        argv = ["train", str(config), *(f"--set={item}" for item in set_ or []), f"--progress={progress}"]
        code = launch(nproc, argv + (["--resume"] if resume_ else []), spec)
        if code:
            raise typer.Exit(code)
        return
    run = train_run(spec, progress=progress, resume=resume_)
    if run is not None:  # rank 0 of several processes, or the only one
        _show_results(run.folder.root)


@app.command()
@friendly
def resume(
    run: Path = typer.Argument(..., help="An interrupted run folder, or a finished one with a higher train.epochs."),
    set_: list[str] = SetOption,
    progress: str = ProgressOption,
) -> None:
    """Continue an interrupted run from its newest valid checkpoint (mid-epoch included), or train a finished run longer.

    Changing the model, optimizer, data or batching is refused; other settings may change.
    A finished run continues from its last epoch when train.epochs is raised. A task sequence
    of lamina continual continues with its strategy's state (the same as lamina continual CONFIG --resume).

    Example: lamina resume runs/digits-cnn --set train.epochs=40
    """
    from lamina.continual.sequence import is_continual_run, resume_continual
    from lamina.trainer import resume as resume_run

    if is_continual_run(run):
        _show_continual(resume_continual(run, set_ or [], progress=progress))
        return
    finished = resume_run(run, set_ or [], progress=progress)
    _show_results(finished.folder.root)


@app.command()
@friendly
def evaluate(run: Path = typer.Argument(..., help="A run folder."),
             groups: list[str] = typer.Option(None, "--groups", help="A table column to score by group (metrics per "
                                              "group and the gaps between groups); repeat for several. Default: "
                                              "the run's eval.groups.")) -> None:
    """Score a run on its test split with its saved preprocessing; writes predictions/test.csv and evaluation.json.

    Every family's run folder is scored from the folder alone: generative (test reconstruction MSE, anomaly
    AUROC, judge coverage), language model and DPO (held-out loss, perplexity, bits per character), reward
    model (validation pair accuracy), U-Net (pixel accuracy, IoU), pretraining (held-out pretext loss).

    Example: lamina evaluate runs/demo-digits-cnn
    Example: lamina evaluate runs/penguins-mlp --groups sex
    """
    from lamina.evaluate.run import evaluate_run

    report = evaluate_run(run, groups=groups or None)
    _metrics_table(report["metrics"], report.get("classes") or [],
                   f"{report['split']} metrics ({report['samples']} samples)")
    if "scored" in report:  # another family's run: what was scored, written to evaluation.json
        _console().print(f"scored: {report['scored']}", markup=False)
        return
    _group_tables(report.get("groups"))
    _console().print(f"predictions: {report['predictions']}", markup=False)


@app.command()
@friendly
def predict(
    run: Path = typer.Argument(..., help="A run folder."),
    inputs: Path = typer.Argument(..., help="A CSV (columns named like the training features), NPZ (array x), "
                                            "or an image file or folder (image runs)."),
    out: Path = typer.Option(None, "--out", help="Write predictions to this CSV instead of printing them."),
) -> None:
    """Predict with a trained run; the run's saved preprocessing is applied to the inputs.

    Example: lamina predict runs/penguins-mlp examples/data/penguins_like_new.csv --out preds.csv
    """
    from lamina.runs import check_output_file, load_run, rows_to_csv, write_rows_csv

    if out is not None:
        check_output_file(out)  # before any work: a folder, FIFO or device is refused by name
    rows = load_run(run).predict_file(inputs)
    if rows.report is not None and rows.report.message():
        typer.echo(f"note: {rows.report.message()}", err=True)
    if out is not None:
        write_rows_csv(out, rows)
        _console().print(f"wrote {len(rows)} predictions to {out}")
        return
    typer.echo(rows_to_csv(rows), nl=False)


@app.command()
@friendly
def summary(config: Path = typer.Argument(..., help="A run config (YAML)."), set_: list[str] = SetOption) -> None:
    """Show the model's layers with output shapes and parameter counts (like Keras's summary).

    With model.arch: auto (or no model section), first the model lamina picks from the data and why.

    Example: lamina summary examples/digits_resnet.yaml
    """
    from rich.markup import escape
    from rich.table import Table

    from lamina.config import AUTO_ARCH, load_config
    from lamina.data.prepare import prepare_data
    from lamina.nn.build import build_model
    from lamina.nn.summary import summary_rows

    spec = load_config(config, set_ or [])
    data = prepare_data(spec.data)
    console = _console()
    if spec.model.arch == AUTO_ARCH:
        from lamina.nn.auto import choose_model

        choice = choose_model(data.input_shape, data.vocab, data.task, data.output_shape)
        spec.model = choice.spec
        console.print(escape(choice.line()))
    built = build_model(spec.model, data.input_shape, data.output_shape, data.vocab, data.categories, data.task)
    console.print(f"[bold]{spec.name}[/bold]: {spec.model.arch or 'layer chain'} on {escape(data.source)} ({data.task})")
    table = Table()
    for column in ("#", "layer", "output shape", "params"):
        table.add_column(column, justify="right" if column in ("#", "params") else "left")
    for row in summary_rows(built, data.input_shape):
        table.add_row(*row)
    console.print(table)
    console.print(f"trainable parameters: {built.params:,}")


@app.command()
@friendly
def info() -> None:
    """List what lamina knows: layers, presets, datasets, optimizers, schedules, losses, metrics, initializers, model families.

    Example: lamina info
    """
    from rich.markup import escape
    from rich.table import Table

    from lamina import registry

    console = _console()
    for title, reg in (("layers", registry.LAYERS), ("presets (model.arch)", registry.PRESETS),
                       ("datasets (data.dataset)", registry.DATASETS), ("optimizers", registry.OPTIMIZERS),
                       ("schedules", registry.SCHEDULES), ("losses", registry.LOSSES),
                       ("metrics", registry.METRICS), ("initializers (model.init)", registry.INITIALIZERS),
                       ("model families beside the presets", registry.FAMILIES)):
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("what it is")
        for entry in reg:
            table.add_row(entry.name, escape(entry.doc))
        console.print(table)


@app.command()
@friendly
def attack(
    run: Path = typer.Argument(..., help="A run folder (classification)."),
    method: str = typer.Option("pgd", "--method", help="fgsm | pgd"),
    eps: list[str] = typer.Option(["0.05,0.1,0.15,0.2"], "--eps",
                                  help="eps values in model-input units, comma-separated or repeated."),
    norm: str = typer.Option("linf", "--norm", help="linf | l2"),
    steps: int = typer.Option(20, "--steps", help="PGD steps (fgsm takes one)."),
    step_size: float = typer.Option(None, "--step-size", help="Step size (default: pgd 2.5*eps/steps, fgsm eps)."),
    random_start: bool = typer.Option(None, "--random-start/--no-random-start",
                                      help="Start inside the eps-ball at random (default: pgd yes, fgsm no)."),
    target: str = typer.Option(None, "--target", help="A class name for a targeted attack."),
    split: str = typer.Option("test", "--split", help="train | val | test"),
    examples: int = typer.Option(4, "--examples", help="Example triplets in the figure (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random starts."),
) -> None:
    """Attack a run over a sweep of eps; prints clean and adversarial accuracy, saves JSON and a figure.

    Example: lamina attack runs/demo-digits-cnn --method pgd --eps 0.05,0.1,0.2
    """
    from rich.table import Table

    from lamina.robust.sweep import AttackSettings, attack_run, parse_eps

    settings = AttackSettings(method=method, eps=parse_eps(eps), norm=norm, steps=steps, step_size=step_size,
                              random_start=random_start, target=target, split=split, examples=examples, seed=seed)
    report = attack_run(run, settings, progress=lambda text: typer.echo(text, err=True))
    console = _console()
    title = f"{report['method']} ({report['norm']}, {report['steps']} steps) on {report['samples']} {report['split']} samples"
    table = Table(title=title, title_justify="left")
    for column in ("eps", "accuracy") + (("target hit rate",) if target is not None else ()):
        table.add_column(column, justify="right")
    table.add_row("0 (clean)", f"{report['clean_accuracy']:.4f}", *(("",) if target is not None else ()))
    for row in report["results"]:
        table.add_row(f"{row['eps']:g}", f"{row['accuracy']:.4f}",
                      *((f"{row['target_hit_rate']:.4f}",) if target is not None else ()))
    console.print(table)
    console.print(f"report: {report['report']}", markup=False)
    if "figure" in report:
        console.print(f"figure: {report['figure']}", markup=False)


@app.command()
@friendly
def continual(
    config: Path = typer.Argument(..., help="A run config (YAML); its continual: section sets the sequence."),
    strategy: str = typer.Option(None, "--strategy", help="naive | ewc | replay | lwf (default: the config's)."),
    set_: list[str] = SetOption,
    progress: str = ProgressOption,
    resume_: bool = typer.Option(False, "--resume", help="Continue this config's interrupted sequence from its "
                                 "newest valid checkpoint (the same command, plus --resume)."),
) -> None:
    """Learn a task sequence (split by class, or permuted inputs) and report forgetting.

    Each task's training writes checkpoints under the run's checkpoints/task-<k>/; after an
    interruption, the same command with --resume ends exactly as an uninterrupted run.

    Example: lamina continual examples/digits_mlp.yaml --strategy replay --set continual.tasks=5
    """
    from lamina.config import load_config
    from lamina.continual.sequence import run_continual

    overrides = {"strategy": strategy} if strategy is not None else {}
    _show_continual(run_continual(load_config(config, set_ or []), progress=progress, resume=resume_, **overrides))


def _show_continual(result: Any) -> None:
    """The accuracy matrix, its summaries and warnings of a finished task sequence."""
    from rich.table import Table

    console = _console()
    table = Table(title=f"{result.strategy} on {result.scenario}: test accuracy (rows: after task i; columns: task j)",
                  title_justify="left")
    table.add_column("after")
    for j in range(len(result.tasks)):
        table.add_column(f"task {j + 1}", justify="right")
    for i, row in enumerate(result.matrix):
        table.add_row(f"task {i + 1}", *(f"{a:.3f}" for a in row))
    console.print(table)
    console.print(f"average accuracy {result.average_accuracy:.4f}  backward transfer {result.backward_transfer:+.4f}")
    for line in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {line}", highlight=False)
    console.print(f"run folder: {result.folder}", markup=False)


@app.command()
@friendly
def compress(
    run: Path = typer.Argument(..., help="A run folder (the original, left untouched)."),
    prune: float = typer.Option(None, "--prune", help="Fraction of channels/neurons (structured) or weights to remove, e.g. 0.5."),
    prune_mode: str = typer.Option("structured", "--prune-mode", help="structured | global | layer"),
    steps: int = typer.Option(1, "--steps", help="Prune in this many rounds, fine-tuning after each."),
    finetune_epochs: int = typer.Option(5, "--finetune-epochs", help="Fine-tuning epochs after each pruning round, and of --quantize qat."),
    quantize: str = typer.Option(None, "--quantize", help="dynamic: int8 weights of dense layers | static: int8 weights and activations, calibrated on training rows (conv nets) | qat: static int8 after quantization-aware fine-tuning."),
    distill: Path = typer.Option(None, "--distill", help="A student config (YAML) to train with this run as teacher."),
    temperature: float = typer.Option(4.0, "--temperature", help="Distillation temperature."),
    alpha: float = typer.Option(0.7, "--alpha", help="Weight of the distillation term (1 - alpha on the labels)."),
    name: str = typer.Option(None, "--name", help="Name of the new run (default: <run>-compressed); a student distilled before pruning or quantizing trains into <name>-student."),
    progress: str = ProgressOption,
) -> None:
    """Distill, prune and/or quantize a run into a new run folder; show size, latency and accuracy side by side.

    Example: lamina compress runs/digits-cnn --prune 0.5 --finetune-epochs 5 --quantize static
    """
    from lamina.compress.run import CompressOptions
    from lamina.compress.run import compress as compress_run
    from lamina.files import read_json

    out = compress_run(run, CompressOptions(prune=prune, prune_mode=prune_mode, steps=steps, finetune_epochs=finetune_epochs,
                                            quantize=quantize, distill=distill, temperature=temperature, alpha=alpha,
                                            name=name, progress=progress))
    _comparison_table(read_json(out / "compression.json")["comparison"])
    _console().print(f"run folder: {out}", markup=False)


def _comparison_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="compression")
    for column in ("model", "params", "file size", "latency b=1", "latency b=256", "test score"):
        table.add_column(column, justify="left" if column == "model" else "right")
    first = rows[0]
    for row in rows:
        def ratio(key: str) -> str:
            return "" if row is first else f" ({row[key] / first[key]:.2f}x)"
        score = "" if row["score"] is None else f"{row['metric']} {row['score']:.4f}"
        table.add_row(row["model"], f"{row['params']:,}{ratio('params')}",
                      f"{row['file_bytes'] / 1024:.1f} KiB{ratio('file_bytes')}",
                      f"{row['latency_b1_ms']:.3f} ms{ratio('latency_b1_ms')}",
                      f"{row['latency_b256_ms']:.3f} ms{ratio('latency_b256_ms')}", score)
    _console().print(table)


@app.command()
@friendly
def export(
    run: Path = typer.Argument(..., help="A run folder."),
    format_: str = typer.Option("onnx", "--format", help="onnx (the only format so far)."),
    out: Path = typer.Option(None, "--out", help="Where to write the file (default: RUN/model.onnx)."),
) -> None:
    """Export a run's model (dynamic batch axis) and check it against torch on the run's test inputs.

    Example: lamina export runs/digits-cnn --format onnx
    """
    from lamina.errors import ConfigError
    from lamina.export.onnx import export_run

    if format_ != "onnx":
        raise ConfigError(f"--format must be one of onnx; got {format_!r}")
    done = export_run(run, out)
    _console().print(f"wrote {done.path}; onnxruntime matches torch within {done.max_abs_diff:.2g} "
                     f"on {done.checked_rows} test inputs", markup=False)


@app.command()
@friendly
def serve(
    run: Path = typer.Argument(..., help="A run folder."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback unless you say otherwise)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    backend: str = typer.Option("torch", "--backend", help="torch | onnx (needs RUN/model.onnx from lamina export)."),
    max_bytes: int = typer.Option(8 * 1024 * 1024, "--max-bytes", help="Largest request body accepted (413 above)."),
) -> None:
    """Serve predictions over HTTP: POST /predict, GET /health, GET /metadata, docs at /docs.

    /predict bodies are parsed and scored in worker processes (one per core, up to 8, each with its own
    copy of the model), so /health stays fast under large bodies; a full queue answers 503 with Retry-After.

    Example: lamina serve runs/digits-cnn --port 8000
    """
    from lamina.serve.app import serve as serve_run

    serve_run(run, host, port, backend, max_bytes)


@app.command()
@friendly
def tune(
    config: Path = typer.Argument(..., help="A run config (YAML) with a tune: section."),
    trials: int = typer.Option(None, "--trials", help="Total trials of the study (default: tune.trials)."),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes sharing the study."),
    storage: str = typer.Option(None, "--storage", help="optuna storage URL (default: sqlite:///<out>/study.db)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: <runs_dir>/<name>-tune)."),
    set_: list[str] = SetOption,
) -> None:
    """Search hyperparameters or architectures; writes best.yaml, report.json and figures.

    Rerunning the same command resumes the study. Example:
    lamina tune examples/digits_tune.yaml --trials 30 --jobs 2 --storage sqlite:///study.db
    """
    from lamina.config import load_config
    from lamina.tune import tune as run_tune

    report = run_tune(load_config(config, set_ or []), trials=trials, jobs=jobs, storage=storage, out=out)
    _tune_results(report)


@app.command()
@friendly
def pretrain(
    config: Path = typer.Argument(..., help="A run config (YAML) with a train.selfsup section."),
    set_: list[str] = SetOption,
    progress: str = ProgressOption,
) -> None:
    """Pretrain the config's model (without its last layer) self-supervised on its inputs; labels unused.

    The same as lamina train on a config with train.selfsup (kept as an alias). The run folder it writes
    serves as model.backbone of later runs. Example:
    lamina pretrain examples/digits_simclr.yaml --set train.epochs=10
    """
    from lamina.config import load_config

    _pretrain(load_config(config, set_ or []), progress, False)


def _pretrain(spec: Any, progress: str, resume: bool) -> None:
    from lamina.files import read_json
    from lamina.transfer.selfsup import pretrain as run_pretrain

    folder = run_pretrain(spec, progress=progress, resume=resume)
    record = read_json(folder.root / "pretrain.json")
    _console().print(f"{record['method']} loss {record['losses'][0]:.4f} -> {record['losses'][-1]:.4f} "
                     f"over {record['epochs']} epochs on {record['samples']} inputs", markup=False)
    _console().print(f"run folder: {folder.root} (use it as model.backbone.run)", markup=False)


def _sweep(config: Path, items: list[str], overrides: list[str]) -> None:
    """Run a --sweep grid through the tuner and print every combination side by side."""
    from rich.markup import escape
    from rich.table import Table

    from lamina.config import parse_run_spec
    from lamina.lm.config import is_language_config, read_raw_config
    from lamina.tune import tune as run_tune
    from lamina.tune.sweep import parse_sweeps, sweep_config, sweep_rows

    raw = read_raw_config(config, overrides)
    if is_language_config(raw):
        raise LaminaError(f"--sweep runs through the tuner, which trains supervised runs; {config} is a language model")
    spec = parse_run_spec(sweep_config(raw, parse_sweeps(items)), str(config))
    report = run_tune(spec, out=Path(spec.runs_dir) / f"{spec.name}-sweep")
    table = Table(title=f"sweep of {spec.name} ({report['objectives'][0]} on validation)", title_justify="left")
    for column in ("trial", *spec.tune.params, report["objectives"][0], "test"):
        table.add_column(escape(column))
    for row in sweep_rows(report):
        value = "" if row["value"] is None else f"{row['value']:.4g}"
        test = ", ".join(f"{k} {v:.4f}" for k, v in row["test"].items()) or row["state"]
        table.add_row(str(row["trial"]), *(escape(str(row["params"].get(k, ""))) for k in spec.tune.params),
                      value, escape(test))
    _console().print(table)
    _console().print(f"best config: {report['best_config']}  (report: {Path(spec.runs_dir) / f'{spec.name}-sweep'})",
                     markup=False)


def _tune_results(report: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    console.print(f"study {report['study']}: {report['trials']} trials {report['states']}, "
                  f"{report['unique_configurations']} unique configurations, {report['epochs_total']} epochs in all",
                  markup=False)
    front = report["pareto_front"] or report["best"]
    table = Table(title="Pareto front" if report["pareto_front"] else "best trial", title_justify="left")
    for column in ("trial", *report["objectives"], "test", "params"):
        table.add_column(column)
    for t in front:
        test = ", ".join(f"{k} {v:.4f}" for k, v in t["test"].items())
        table.add_row(str(t["number"]), *(f"{v:.4g}" for v in t["values"]), test,
                      escape(", ".join(f"{k}={v}" for k, v in t["params"].items())))
    console.print(table)
    console.print(f"best config: {report['best_config']}", markup=False)
    for path in report["figures"]:
        console.print(f"figure: {path}", markup=False)


@app.command()
@friendly
def diagnose(run: Path = typer.Argument(..., help="A finished (or diverged) run folder."),
             remedy: bool = typer.Option(False, "--remedy", help="Apply the remedies found, retrain, report before and after."),
             progress: str = ProgressOption) -> None:
    """Re-read a run's training monitors and epoch logs, print the problems found and their remedies.

    Rewrites the run's diagnosis.json (and report.html for a finished run).
    With --remedy, retrains the run's config with the remedies applied (e.g. class weights for class imbalance).

    Example: lamina diagnose runs/demo-digits-cnn
    """
    from lamina.diagnose.run import diagnose_run, format_diagnosis
    from lamina.evaluate.run import run_kind
    from lamina.runs import RunFolder

    kind = run_kind(RunFolder(run)) if Path(run).is_dir() else None  # None: a supervised run
    if remedy and kind is not None:
        raise LaminaError(f"--remedy retrains a supervised run with the diagnosis's remedies; {run} is a {kind} "
                          "run (read its diagnosis and change its config); drop --remedy")
    diagnosis = diagnose_run(run)
    typer.echo(format_diagnosis(diagnosis, retrains=kind is None))
    if kind is None:  # a family's own report.html is its family's page
        _refresh_report(run)
    if remedy:
        from lamina.diagnose.remedies import format_remedy, remedy_run

        report = remedy_run(run, progress=progress)
        typer.echo(format_remedy(report))
        _refresh_report(Path(report.get("after", report["before"])["run"]))


@app.command("inspect")
@friendly
def inspect_data_quality(
    data: str = typer.Argument(..., help="A table file (.csv, .parquet, .feather, .jsonl) or a builtin dataset name."),
    target: str | None = typer.Option(None, "--target", help="The label column: class balance and likely label errors."),
    out: Path | None = typer.Option(None, "--out", help="Folder for quality.json and quality.html (default runs/inspect/<name>)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split checked for leakage (a run's data.split.seed)."),
) -> None:
    """Report data quality before training: missing cells, constant/empty/id-like columns, duplicate rows,
    rows shared across the train/validation/test split, class balance, tiny classes, likely label errors.

    Example: lamina inspect examples/data/penguins_like.csv --target species
    """
    from lamina.data.quality import format_quality, inspect_data
    from lamina.report.quality import write_quality

    report = inspect_data(data, target, seed)
    typer.echo(format_quality(report))
    folder = out if out is not None else Path("runs") / "inspect" / Path(data).stem
    for path in write_quality(report, folder):
        typer.echo(f"wrote: {path}")


@app.command("lr-find")
@friendly
def lr_find(
    config: Path = typer.Argument(..., help="A run config (YAML)."),
    set_: list[str] = SetOption,
    out: Path = typer.Option(Path("lr_find"), "--out", help="Folder for lr_find.png and lr_find.json."),
    start: float = typer.Option(1e-7, "--start", help="Smallest learning rate tried."),
    end: float = typer.Option(10.0, "--end", help="Largest learning rate tried."),
    steps: int = typer.Option(100, "--steps", help="Training steps over the range."),
) -> None:
    """Learning-rate range test: train briefly at exponentially rising rates, plot the loss, suggest a rate.

    Example: lamina lr-find examples/digits_cnn.yaml --out runs/lr
    """
    from lamina.config import load_config
    from lamina.diagnose.lr_find import lr_find as range_test

    result = range_test(load_config(config, set_ or []), start=start, end=end, steps=steps, out=out)
    suggested = result["suggested_lr"]
    typer.echo(f"suggested learning rate: {suggested:.3g}" if suggested else
               "no suggestion: the loss did not fall over the range (try a wider --start/--end)")
    typer.echo(f"plot: {out / 'lr_find.png'}")


@app.command()
@friendly
def generative(config: Path = typer.Argument(..., help="A run config (YAML) with a generative: section."),
               set_: list[str] = SetOption, progress: str = ProgressOption) -> None:
    """Train an autoencoder, denoising autoencoder, VAE or GAN; prints reconstruction, anomaly and coverage figures.

    The same as lamina train on a config with a generative: section (kept as an alias).
    Example: lamina generative examples/generative/digits_vae.yaml --set train.epochs=20
    """
    from lamina.config import load_config

    _train_generative(load_config(config, set_ or []), progress, False)


def _train_generative(spec: Any, progress: str, resume: bool) -> None:
    from lamina.generative.run import train_generative

    result = train_generative(spec, progress=progress, resume=resume)
    console = _console()
    if "test_mse" in result:
        console.print(f"test reconstruction MSE {result['test_mse']:.5f} (PCA with {result['latent']} components: "
                      f"{result['pca_test_mse']:.5f})")
    if "anomaly" in result:
        a, p = result["anomaly"], result["pca_anomaly"]
        console.print(f"anomalies: AUROC {a['auroc']:.4f} AUPRC {a['auprc']:.4f} (PCA: {p['auroc']:.4f}, {p['auprc']:.4f}); "
                      f"threshold {a['threshold']:.5f}: precision {a['precision']:.3f} recall {a['recall']:.3f}")
    if "coverage" in result:
        c = result["coverage"]
        console.print(f"samples cover {c['covered']}/{c['classes']} classes; entropy {c['entropy']:.3f} of "
                      f"{c['max_entropy']:.3f} (judge accuracy {result['judge_accuracy']:.3f})")
    for line in result.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {line}", highlight=False)
    console.print(f"run folder: {result['folder']}", markup=False)


def _train_language_model(config: Path, overrides: list[str], progress: str, resume: bool, nproc: int) -> None:
    from lamina.errors import ConfigError
    from lamina.files import read_json
    from lamina.lm.train import as_lm_spec, train_lm

    if nproc != 1:
        raise ConfigError(f"language-model runs (task: language_model) train in one process; drop --nproc "
                          f"(got --nproc {nproc})")
    root = train_lm(as_lm_spec(config, overrides), progress=progress, resume=resume)
    done = read_json(root / "summary.json")
    val = done["val"]
    _console().print(f"validation: loss {val['loss']:.4f} nats/token, perplexity {val['perplexity']:.3f}, "
                     f"{val['bits_per_char']:.4f} bits/char (unigram baseline {done['unigram_val_loss']:.4f})")
    _console().print(f"trained {done['steps']} steps in {done['train_seconds']:.1f}s ({done['params']:,} parameters)")
    _console().print(f"run folder: {root}", markup=False)


def _train_preference(config: Path, overrides: list[str], progress: str, resume: bool, unsupported: bool) -> None:
    from lamina.errors import ConfigError
    from lamina.files import read_json
    from lamina.lm.preference_run import as_preference_spec, train_preference

    if unsupported:
        raise ConfigError("preference runs (a preference: section) train once in one process; "
                          "drop --nproc, --remedy, --cv and --sweep")
    root = train_preference(as_preference_spec(config, overrides), progress=progress, resume=resume)
    done = read_json(root / "summary.json")
    last = done["final_epoch"]
    console = _console()
    if "val_pair_accuracy" in last:
        console.print(f"validation pairs ranked right: {last['val_pair_accuracy']:.3f} ({done['pairs']['val']} pairs)")
    if "val_perplexity" in done:
        console.print(f"validation text perplexity: {done['val_perplexity']:.3f} "
                      f"(reference {done['reference_val_perplexity']:.3f})")
    console.print(f"trained {done['epochs_run']} epochs on {done['pairs']['train']} pairs in "
                  f"{done['train_seconds']:.1f}s ({done['method']})")
    console.print(f"run folder: {root}", markup=False)


@app.command()
@friendly
def explain(
    run: Path = typer.Argument(..., help="A run folder."),
    method: str = typer.Option("ig", "--method", help="saliency | ig | gradcam | shap (gradient_shap, kernel_shap)."),
    input_: str = typer.Option("test", "--input", help="'test' (the run's test split) or a CSV/NPZ of raw samples."),
    count: int = typer.Option(8, "--count", help="How many samples to explain."),
    layer: str = typer.Option(None, "--layer", help="Grad-CAM's conv layer by module name (default: the last)."),
) -> None:
    """Attribute a run's predictions to its inputs (captum); writes overlay PNGs or tables to RUN/explanations/.

    Example: lamina explain runs/demo-digits-cnn --method gradcam --count 6
    """
    from lamina.explain.run import explain_run

    result = explain_run(run, method, input_, count, layer)
    if "relative_error" in result["facts"]:
        typer.echo(f"integrated gradients completeness: relative error {result['facts']['relative_error']:.2%}")
    for path in result["files"]:
        typer.echo(f"wrote {path}")
    _refresh_report(run)


@app.command()
@friendly
def embed(source: Path = typer.Argument(None, help="An autoencoder or VAE run folder, or a text file (CSV with a "
                                                   "text column, or .txt with one text per line) to embed with MiniLM."),
          input_: Path = typer.Option(None, "--input", help="Run folder only: a .npz (array x) or .csv of raw inputs."),
          texts: Path = typer.Option(None, "--texts", help="A text file to embed with MiniLM (instead of SOURCE)."),
          column: str = typer.Option(None, "--column", help="The text column (default: 'text', or the only column)."),
          output: Path = typer.Option(None, "--output", "--out",
                                      help="Where the codes go: CSV for a run (default RUN/embeddings/); for texts "
                                           ".npz or .parquet (default NAME.embeddings.npz here).")) -> None:
    """Write the latent codes (z0, z1, ...) of an autoencoder run's inputs as CSV, or the pretrained MiniLM
    sentence embeddings of texts (384 numbers each; NPZ or Parquet by the output's extension; the text extra).

    Example: lamina embed runs/digits-anomaly --input examples/data/digits_sample.csv
    Example: lamina embed examples/data/topics_new.csv --output topics.parquet
    """
    from lamina.errors import ConfigError

    if texts is not None and source is not None:
        raise ConfigError("give the text file as SOURCE or as --texts, not both")
    if texts is None and (source is None or source.is_dir()):
        if source is None:
            raise ConfigError("name a run folder (with --input) or a text file (SOURCE or --texts)")
        if input_ is None:
            raise ConfigError("a run folder needs --input (the rows to encode)")
        from lamina.generative.run import embed as embed_rows

        _console().print(f"codes: {embed_rows(source, input_, output)}", markup=False)
        return
    if input_ is not None:
        raise ConfigError("--input is for a run folder; a text file is embedded as it is")
    from lamina.lm.classify import embed_file

    path, count = embed_file(texts or source, column, output)
    _console().print(f"embedded {count} texts with MiniLM: {path}", markup=False)


@app.command()
@friendly
def classify(
    texts: Path = typer.Argument(..., help="Texts to label: a CSV with a text column, or .txt (one per line)."),
    labels: str = typer.Option(None, "--labels", help='Zero-shot: the class names, e.g. "sports, politics".'),
    support: Path = typer.Option(None, "--support", help="Few-shot: a CSV of labelled examples (k per class)."),
    column: str = typer.Option(None, "--column", help="The text column (default: 'text', or the only column)."),
    label_column: str = typer.Option(None, "--label-column",
                                     help="The support file's label column (default: 'label', or its other column)."),
    template: str = typer.Option("{}", "--template", help='Zero-shot: the sentence for each class, e.g. '
                                                          '"This text is about {}."'),
    truth: str = typer.Option(None, "--truth", help="A column of the true classes: also print the accuracy."),
    out: Path = typer.Option(None, "--out", help="The predictions CSV (default: NAME.classified.csv here)."),
) -> None:
    """Label texts with the pretrained MiniLM encoder, no training: zero-shot (--labels, each text gets the most
    similar class name) or few-shot (--support, the nearest class mean of the examples). Prints the predictions
    and writes them with each class's cosine similarity (score_<class>) as CSV. Needs the text extra.

    Example: lamina classify examples/data/topics_new.csv --labels "sports, cooking, technology, weather"
    Example: lamina classify examples/data/topics_new.csv --support examples/data/topics_support.csv --out labelled.csv
    """
    from rich.markup import escape
    from rich.table import Table

    from lamina.lm.classify import classify_file

    if out is not None:
        from lamina.runs import check_output_file

        check_output_file(out)  # before the encoder loads
    result = classify_file(texts, labels, support, column, label_column, template, truth, out)
    table = Table(title=f"{result.mode}: {len(result.rows)} texts, classes {', '.join(result.classes)}")
    for name in ("text", "label", "score"):
        table.add_column(name, justify="right" if name == "score" else "left", overflow="fold")
    for row in result.rows[:SHOWN_ROWS]:
        table.add_row(escape(str(row["text"])), escape(str(row["label"])), f"{row['score_' + str(row['label'])]:.3f}")
    _console().print(table)
    if len(result.rows) > SHOWN_ROWS:
        _console().print(f"... {len(result.rows) - SHOWN_ROWS} more rows in the file")
    if result.accuracy is not None:
        _console().print(f"accuracy against '{truth}': {result.accuracy:.4f}", markup=False)
    _console().print(f"wrote {len(result.rows)} predictions to {result.path}", markup=False)


SHOWN_ROWS = 20


@app.command()
@friendly
def compare(
    runs: list[Path] = typer.Argument(..., help="Two or more run folders."),
    out: Path = typer.Option(Path("compare"), "--out", help="Folder for compare.html, curves.png and compare.json."),
) -> None:
    """Show finished runs' metrics side by side and overlay their learning curves.

    Example: lamina compare runs/digits-mlp runs/digits-cnn --out runs/compare
    """
    from rich.table import Table

    from lamina.report.compare import compare_runs, format_table

    result = compare_runs(runs, out)
    for note in result["warnings"]:
        typer.echo(f"warning: {note}", err=True)
    header, *rows = format_table(result)
    table = Table()
    for column in header:
        table.add_column(column, justify="right" if column else "left")
    for row in rows:
        table.add_row(*row)
    _console().print(table)
    _console().print(f"curves: {result['curves']}; page: {out / 'compare.html'}", markup=False)


def _refresh_report(run: Path) -> None:
    """Redraw a finished run's report.html so it shows the newest diagnosis and explanations."""
    if (Path(run) / "summary.json").is_file():
        from lamina.report.background import wait_for_reports
        from lamina.report.html import write_report

        wait_for_reports()  # training's drawing of the same figures
        typer.echo(f"report: {write_report(run)}")


@app.command()
@friendly
def generate(
    run: Path = typer.Argument(..., help="A language-model, VAE or GAN run folder."),
    n: int = typer.Option(None, "--n", help="How many samples (default: 1 text, 64 images)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the same seed gives the same samples)."),
    prompt: str = typer.Option(None, "--prompt", help="Language models: the text to continue."),
    tokens: int = typer.Option(200, "--tokens", help="Language models: how many tokens to generate."),
    temperature: float = typer.Option(0.8, "--temperature", help="Language models: sampling temperature; 0 is greedy."),
    top_k: int = typer.Option(None, "--top-k", help="Language models: sample only among the k most likely tokens."),
    top_p: float = typer.Option(None, "--top-p", help="Language models: sample among the most likely tokens holding this much probability."),
) -> None:
    """Sample from a run: text continuing --prompt for a language model; an image grid (PNG) and NPZ for a VAE or GAN.

    Examples: lamina generate runs/shakespeare-char --prompt "ROMEO:" --tokens 300 --top-k 20
              lamina generate runs/digits-gan --n 64
    """
    from lamina.lm.generate import generate_text, is_language_run
    from lamina.lm.preference_run import is_reward_run

    if is_reward_run(run):
        raise LaminaError(f"{run} is a reward-model run (preference.method: reward): it scores text and does not "
                          "generate; sample from the language-model run it was trained for, or a DPO run")
    if is_language_run(run):
        if prompt is None:
            raise LaminaError(f"{run} is a language-model run: give the text to continue with --prompt")
        texts = generate_text(run, prompt, tokens, temperature, top_k, top_p, n or 1, seed)
        for i, text in enumerate(texts):
            if len(texts) > 1:
                typer.echo(f"--- sample {i + 1} ---")
            typer.echo(text)
        return
    if prompt is not None:
        raise LaminaError(f"--prompt applies to language-model runs; {run} is not one")
    _generate_images(run, n or 64, seed)


def _generate_images(run: Path, n: int, seed: int) -> None:
    from lamina.generative.run import generate as generate_samples

    result = generate_samples(run, n, seed)
    console = _console()
    if "coverage" in result:
        c = result["coverage"]
        console.print(f"{n} samples cover {c['covered']}/{c['classes']} classes; entropy {c['entropy']:.3f} of {c['max_entropy']:.3f}")
    console.print(f"grid: {result['grid']}\nsamples: {result['npz']}", markup=False)


@app.command()
@friendly
def anomaly(run: Path = typer.Argument(..., help="An autoencoder run trained with generative.normal_classes."),
            input_: Path = typer.Option(..., "--input", help="A .npz (array x) or .csv of raw inputs."),
            output: Path = typer.Option(None, "--output", help="Where the CSV of scores goes (default: RUN/anomaly/).")) -> None:
    """Score rows by reconstruction error and flag those above the threshold chosen on validation data.

    Example: lamina anomaly runs/digits-anomaly --input examples/data/digits_sample.csv
    """
    from lamina.generative.run import score_anomalies

    result = score_anomalies(run, input_, output)
    _console().print(f"{result['flagged']} of {result['rows']} rows above threshold {result['threshold']:.5f}; "
                     f"scores: {result['scores']}", markup=False)


@app.command()
@friendly
def segment(runs_dir: str = typer.Option("runs", help="Where the run folder goes."),
            epochs: int = typer.Option(16, "--epochs"), size: int = typer.Option(24, "--size", help="Image side (multiple of 4)."),
            train_images: int = typer.Option(500, "--train-images"), progress: str = ProgressOption) -> None:
    """Train a small U-Net on the synthetic shapes set; prints pixel accuracy and IoU per class.

    Example: lamina segment --epochs 16
    """
    from lamina.segment.train import SegmentationSettings, train_segmentation

    result = train_segmentation(SegmentationSettings(epochs=epochs, size=size, train=train_images), runs_dir, progress)
    test = result["test"]
    per_class = "  ".join(f"{k} {v:.3f}" for k, v in test["iou"].items())
    _console().print(f"test pixel accuracy {test['pixel_accuracy']:.4f}  mean IoU {test['mean_iou']:.4f}\n"
                     f"IoU: {per_class}\nrun folder: {result['folder']} (report.html inside)", markup=False)


def _train_segmentation_folder(config: Path, overrides: list[str], progress: str, resume: bool) -> None:
    """Train the U-Net on an image folder and its mask folder; print pixel accuracy and IoU per class."""
    from lamina.lm.config import read_raw_config
    from lamina.segment.folder import parse_segmentation_run, train_segmentation_folder

    spec = parse_segmentation_run(read_raw_config(config, overrides), str(config))
    result = train_segmentation_folder(spec, progress, resume)
    test = result["test"]
    per_class = "  ".join(f"{k} {v:.3f}" for k, v in test["iou"].items())
    _console().print(f"test pixel accuracy {test['pixel_accuracy']:.4f}  mean IoU {test['mean_iou']:.4f}\n"
                     f"IoU per class: {per_class}\nrun folder: {result['folder']} (report.html inside)", markup=False)


lab_app = typer.Typer(help="Labs: claims of deep learning reproduced on this machine, each with a table, a figure and a verdict.",
                      no_args_is_help=True)
app.add_typer(lab_app, name="lab")


@lab_app.command("list")
@friendly
def lab_list() -> None:
    """List the labs and the claim each one tests.

    Example: lamina lab list
    """
    from lamina.labs.catalog import list_labs

    _listing("labs (lamina lab run NAME --quick)", "claim", [(lab.name, lab.claim) for lab in list_labs()])


@lab_app.command("run")
@friendly
def lab_run(
    names: list[str] = typer.Argument(..., help="Lab names (see lamina lab list), or 'all'."),
    quick: bool = typer.Option(False, "--quick", help="The under-a-minute version of each lab (smaller data, fewer epochs)."),
    out: Path = typer.Option(Path("runs/labs"), "--out", help="Where each lab's folder and labs.html go."),
    seed: int = typer.Option(0, "--seed", help="The seed every comparison starts from."),
    progress: str = typer.Option("plain", "--progress", help="plain | none"),
) -> None:
    """Run labs: each prints its claim, a table of what it measured and a CONFIRMED / NOT CONFIRMED line; labs.html gathers them.

    Example: lamina lab run vanishing_gradients --quick
    Example: lamina lab run all --quick --out runs/labs
    """
    from lamina.labs.catalog import check_options, resolve, run_lab
    from lamina.labs.page import write_page

    console = _console()
    check_options(out, progress)
    chosen = resolve(names)
    results = []
    for name in chosen:
        console.print(f"[bold]{name}[/bold]")
        result = run_lab(name, out, quick=quick, seed=seed, progress=progress)
        console.print(f"claim: {result.claim}", markup=False)
        _lab_table(result.table)
        style = "green" if result.confirmed else "red"
        console.print(f"[{style}]{result.verdict}[/{style}] ({result.seconds:.1f}s): {result.margin}", highlight=False)
        results.append(result)
    console.print(f"page: {write_page(results, out)}", markup=False)


def _lab_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = Table()
    for column in columns:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(f"{row[c]:.4g}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns))
    _console().print(table)


def _show_results(root: Path) -> None:
    from lamina.files import read_json
    from lamina.report.background import wait_for_reports

    wait_for_reports()  # the report is whole when the command ends

    summary_data = read_json(Path(root) / "summary.json")
    evaluation = read_json(Path(root) / "evaluation.json") if (Path(root) / "evaluation.json").is_file() else {}
    _metrics_table(summary_data["test"], evaluation.get("classes", []), f"test metrics ({summary_data['samples']['test']} samples)")
    _group_tables(summary_data.get("groups"))
    forecast = summary_data.get("forecast")
    if forecast:
        typer.echo("test MAE in the series' units: " + ", ".join(
            f"{name.removesuffix('_mae').replace('_', '-')} {value:.4g}" for name, value in forecast.items() if name != "units"))
    _console().print(
        f"trained {summary_data['epochs_run']} epochs in {summary_data['train_seconds']:.1f}s "
        f"({summary_data['params']:,} parameters); best {summary_data['monitor']} at epoch {summary_data['best_epoch']}"
    )
    _console().print(f"run folder: {root}", markup=False)


def _group_tables(groups: dict[str, Any] | None) -> None:
    """The metrics by group (eval.groups / --groups), one table per group column with its gaps in the title."""
    if not groups:
        return
    from rich.markup import escape
    from rich.table import Table

    from lamina.evaluate.groups import format_rows

    console = _console()
    for title, header, rows in format_rows(groups):
        console.print(f"[bold]{escape(title)}[/bold]")
        table = Table()
        for name in header:
            table.add_column(escape(name), justify="left" if name == header[0] else "right")
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)


def _metrics_table(metrics: dict[str, Any], classes: list[str], title: str) -> None:
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{title}[/bold]")
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        if name != "confusion_matrix":
            table.add_row(name, f"{value:.4f}")
    console.print(table)
    matrix = metrics.get("confusion_matrix")
    if matrix:
        console.print("[bold]confusion matrix[/bold] (rows: true class, columns: predicted)")
        grid = Table()
        grid.add_column("")
        for c in classes:
            grid.add_column(str(c), justify="right")
        for c, row in zip(classes, matrix):
            grid.add_row(str(c), *(str(v) for v in row))
        console.print(grid)


def _show_version(value: bool) -> None:
    """Print lamina's version (and torch's, which decides what the machine can do) and stop."""
    if value:
        from importlib.metadata import version

        import torch

        typer.echo(f"lamina {version('lamina')} (torch {torch.__version__})")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", help="Print lamina's version and exit.",
                                          callback=_show_version, is_eager=True)) -> None:
    """lamina: describe a model by chaining layers, train it with sound defaults, evaluate and predict."""


examples_app = typer.Typer(help="The example configs and data shipped with lamina: list them, copy one here to edit.",
                           no_args_is_help=True)
app.add_typer(examples_app, name="examples")


@examples_app.command("list")
@friendly
def examples_list() -> None:
    """List the example configs; any `lamina ... examples/NAME.yaml` runs them even without a copy here.

    Example: lamina examples list
    """
    from lamina.example_files import catalog

    _listing("examples (lamina examples copy NAME)", "what it shows", catalog())


def _listing(title: str, about: str, rows: list[tuple[str, str]]) -> None:
    """Print a two-column table of names (bold) and what each is."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("name", style="bold")
    table.add_column(about)
    for name, text in rows:
        table.add_row(name, text)
    _console().print(table)


@examples_app.command("copy")
@friendly
def examples_copy(
    names: list[str] = typer.Argument(..., help="Example names (see lamina examples list)."),
    to: Path = typer.Option(Path("."), "--to", help="Folder that receives examples/NAME.yaml and its data."),
    force: bool = typer.Option(False, "--force", help="Replace files already there."),
) -> None:
    """Copy example configs and the data they name into ./examples/, the paths the configs expect.

    Example: lamina examples copy tabular_csv
    """
    from lamina.example_files import copy_example

    for name in names:
        for written in copy_example(name, to, overwrite=force):
            typer.echo(f"wrote {written}")


def main() -> None:
    """Entry point of the ``lamina`` script; paths under examples/ fall back to the packaged examples."""
    from lamina.example_files import locate

    app(args=[str(locate(arg)) if arg.startswith("examples/") else arg for arg in sys.argv[1:]], prog_name="lamina")


if __name__ == "__main__":
    sys.exit(main())
