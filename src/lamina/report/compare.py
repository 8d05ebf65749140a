"""Compare finished runs: their metrics side by side and their learning curves overlaid.

``lamina compare RUN RUN...`` lands here. Each run contributes its summary.json
(test metrics, best validation value, epochs, parameters, time) and its
metrics.jsonl (the curves). Written to the output folder: compare.json (the
table), curves.png (training and validation loss of every run on one axis, and
the first shared validation metric on a second) and compare.html (both, offline).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from lamina.errors import RunFolderError
from lamina.files import atomic_write_text, read_json, read_jsonl, write_json
from lamina.report.figures import pyplot, save_figure
from lamina.report.page import html_page


def _history(root: Path) -> list[dict[str, Any]]:
    return read_jsonl(root / "metrics.jsonl")


def run_row(root: Path) -> dict[str, Any]:
    """One run's line of the comparison: name, sizes, timings, best validation value and test metrics."""
    if not (root / "summary.json").is_file():
        raise RunFolderError(f"{root} is not a finished run folder: summary.json is missing")
    summary = read_json(root / "summary.json")
    row: dict[str, Any] = {"run": str(root), "name": summary["name"], "params": summary["params"],
                           "epochs": summary["epochs_run"], "train_seconds": summary["train_seconds"],
                           f"best {summary['monitor']}": summary["best_value"]}
    row.update({f"test {k}": v for k, v in summary.get("test", {}).items() if isinstance(v, (int, float))})
    return row


def compare_runs(runs: list[str | Path], out: str | Path = "compare") -> dict[str, Any]:
    """Compare ``runs`` (at least two run folders); writes compare.json, curves.png and compare.html to ``out``."""
    roots = [Path(r) for r in runs]
    if len(roots) < 2:
        raise RunFolderError(f"compare needs at least two run folders; got {len(roots)}")
    rows = [run_row(root) for root in roots]
    notes = differences(roots, [row["name"] for row in rows])
    columns = list(dict.fromkeys(key for row in rows for key in row if key not in ("run",)))
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    curves = overlaid_curves([(row["name"] if [r["name"] for r in rows].count(row["name"]) == 1 else str(root),
                               _history(root)) for row, root in zip(rows, roots)], folder / "curves.png")
    result = {"runs": rows, "columns": columns, "curves": str(curves), "warnings": notes}
    write_json(folder / "compare.json", result)
    atomic_write_text(folder / "compare.html", _page(rows, columns, notes))
    return result


COMPARED = {  # what must match for metrics side by side to mean what they seem to, and why
    "data": (("data", "dataset"), ("data", "path"), ("data", "target")),
    "splits": (("data", "split"),),
    "seeds": (("seed",),),
}
CONSEQUENCE = {
    "data": "they were trained and tested on different data",
    "splits": "their test metrics come from different rows",
    "seeds": "part of any difference may be the seed's luck",
}


def differences(roots: list[Path], names: list[str]) -> list[str]:
    """One sentence for each of data, split and seed that differs between the runs' configs, naming the values."""
    from lamina.runs import RunFolder

    configs = [RunFolder(root).read_config() if (root / "config.yaml").is_file() else {} for root in roots]
    notes = []
    for what, paths in COMPARED.items():
        leaves = [dict(item for path in paths for item in _leaves(_at(config, path), ".".join(path)))
                  for config in configs]
        differing = [key for key in dict.fromkeys(k for found in leaves for k in found)
                     if any(found.get(key) != leaves[0].get(key) for found in leaves[1:])]
        if differing:
            shown = "; ".join(f"{name}: " + ", ".join(f"{key}={found.get(key)}" for key in differing)
                              for name, found in zip(names, leaves))
            notes.append(f"the runs' {what} differ ({shown}): {CONSEQUENCE[what]}")
    return notes


def _at(config: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        config = config.get(key) if isinstance(config, dict) else None
    return config


def _leaves(value: Any, prefix: str) -> list[tuple[str, Any]]:
    """(dotted path, value) of every non-mapping value under ``value``; nothing for None."""
    if isinstance(value, dict):
        return [leaf for key, sub in value.items() for leaf in _leaves(sub, f"{prefix}.{key}")]
    return [] if value is None else [(prefix, value)]


def overlaid_curves(runs: list[tuple[str, list[dict[str, Any]]]], path: Path) -> Path:
    """Loss curves of every run on one axis (solid: validation, dashed: training), a shared val metric beside."""
    plt = pyplot()
    shared = set.intersection(*[set(h[-1]) if h else set() for _, h in runs])
    metric = next((k for k in sorted(shared) if k.startswith("val_") and k != "val_loss"), None)
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(11 if metric else 6, 4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for i, (label, history) in enumerate(runs):
        epochs = [h["epoch"] for h in history]
        for key, style in (("val_loss", "-"), ("train_loss", "--")):
            if history and key in history[0]:
                axes[0][0].plot(epochs, [h[key] for h in history], style, color=colours(i % 10),
                                label=f"{label} {key.split('_')[0]}")
        if metric:
            axes[0][1].plot(epochs, [h.get(metric) for h in history], color=colours(i % 10), label=label)
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_ylabel("loss")
    axes[0][0].set_title("loss (solid: validation, dashed: training)")
    axes[0][0].legend(fontsize=7)
    if metric:
        axes[0][1].set_xlabel("epoch")
        axes[0][1].set_title(metric)
        axes[0][1].legend(fontsize=7)
    return save_figure(fig, path)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def _page(rows: list[dict[str, Any]], columns: list[str], notes: list[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    warnings = "".join(f"<p><strong>warning:</strong> {escape(n)}</p>" for n in notes)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows)
    return html_page("run comparison", f"<h1>Run comparison</h1>{warnings}<table><tr>{head}</tr>{body}</table>"
                                       "<h2>Learning curves</h2><img src='curves.png' alt='learning curves'>")


def format_table(result: dict[str, Any]) -> list[list[str]]:
    """The comparison for the terminal: a header row of run names, then one row per quantity."""
    runs = result["runs"]
    return [["", *(row["name"] for row in runs)]] + [
        [c, *(_cell(row.get(c)) for row in runs)] for c in result["columns"] if c != "name"]
