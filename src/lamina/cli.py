"""The ``lamina`` command line: each command is a thin call into a module.

User mistakes (a bad config, file or shape) print one message and exit with
status 2; they never show a traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from lamina.errors import LaminaError

app = typer.Typer(
    name="lamina",
    help="lamina: describe a model by chaining layers, train it with sound defaults, evaluate and predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SetOption = typer.Option(None, "--set", help="Override a config field, e.g. --set train.epochs=5 (repeatable).")
ProgressOption = typer.Option("auto", "--progress", help="auto | bar | plain | none")


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn lamina's own errors into a one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LaminaError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


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
) -> None:
    """Train the run a config describes; prints test metrics and the run folder.

    Example: lamina train examples/digits_cnn.yaml --set train.epochs=5
    """
    from lamina.config import load_config
    from lamina.trainer import train as train_run

    run = train_run(load_config(config, set_ or []), progress=progress)
    _show_results(run.folder.root)


@app.command()
@friendly
def evaluate(run: Path = typer.Argument(..., help="A run folder.")) -> None:
    """Score a run on its test split with its saved preprocessing; writes predictions/test.csv.

    Example: lamina evaluate runs/demo-digits-cnn
    """
    from lamina.evaluate.run import evaluate_run

    report = evaluate_run(run)
    _metrics_table(report["metrics"], report["classes"], f"test metrics ({report['samples']} samples)")
    _console().print(f"predictions: {report['predictions']}", markup=False)


@app.command()
@friendly
def predict(
    run: Path = typer.Argument(..., help="A run folder."),
    inputs: Path = typer.Argument(..., help="A CSV (columns named like the training features) or NPZ (array x)."),
    out: Path = typer.Option(None, "--out", help="Write predictions to this CSV instead of printing them."),
) -> None:
    """Predict with a trained run; the run's saved preprocessing is applied to the inputs.

    Example: lamina predict runs/iris-mlp new_flowers.csv --out preds.csv
    """
    from lamina.runs import load_run, rows_to_csv, write_rows_csv

    rows = load_run(run).predict_file(inputs)
    if out is not None:
        write_rows_csv(out, rows)
        _console().print(f"wrote {len(rows)} predictions to {out}")
        return
    typer.echo(rows_to_csv(rows), nl=False)


@app.command()
@friendly
def summary(config: Path = typer.Argument(..., help="A run config (YAML)."), set_: list[str] = SetOption) -> None:
    """Show the model's layers with output shapes and parameter counts (like Keras's summary).

    Example: lamina summary examples/digits_resnet.yaml
    """
    from rich.markup import escape
    from rich.table import Table

    from lamina.config import load_config
    from lamina.data.prepare import prepare_data
    from lamina.nn.build import build_model
    from lamina.nn.summary import summary_rows

    spec = load_config(config, set_ or [])
    data = prepare_data(spec.data)
    built = build_model(spec.model, data.input_shape, data.n_outputs)
    console = _console()
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
    """List what lamina knows: layers, presets, datasets, optimizers, schedules, losses, metrics, initializers.

    Example: lamina info
    """
    from rich.markup import escape
    from rich.table import Table

    from lamina import registry

    console = _console()
    for title, reg in (("layers", registry.LAYERS), ("presets (model.arch)", registry.PRESETS),
                       ("datasets (data.dataset)", registry.DATASETS), ("optimizers", registry.OPTIMIZERS),
                       ("schedules", registry.SCHEDULES), ("losses", registry.LOSSES),
                       ("metrics", registry.METRICS), ("initializers (model.init)", registry.INITIALIZERS)):
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("what it is")
        for entry in reg:
            table.add_row(entry.name, escape(entry.doc))
        console.print(table)


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


def _tune_results(report: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    console.print(f"study {report['study']}: {report['trials']} trials {report['states']}, "
                  f"{report['epochs_total']} epochs in all", markup=False)
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


def _show_results(root: Path) -> None:
    from lamina.files import read_json

    summary_data = read_json(Path(root) / "summary.json")
    evaluation = read_json(Path(root) / "evaluation.json") if (Path(root) / "evaluation.json").is_file() else {}
    _metrics_table(summary_data["test"], evaluation.get("classes", []), f"test metrics ({summary_data['samples']['test']} samples)")
    _console().print(
        f"trained {summary_data['epochs_run']} epochs in {summary_data['train_seconds']:.1f}s "
        f"({summary_data['params']:,} parameters); best {summary_data['monitor']} at epoch {summary_data['best_epoch']}"
    )
    _console().print(f"run folder: {root}", markup=False)


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


def main() -> None:
    """Entry point of the ``lamina`` script."""
    app(prog_name="lamina")


if __name__ == "__main__":
    sys.exit(main())
