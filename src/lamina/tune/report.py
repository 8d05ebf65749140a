"""What a finished study leaves behind: the best config as YAML, report.json and figures.

``best.yaml`` is a complete run config (no tune section) ready for ``lamina train``.
For several objectives the Pareto front's configs go to ``pareto/`` and its plot to
``figures/pareto.png``. Figures are optuna's matplotlib plots saved as PNG.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from lamina.config import parse_run_spec, save_config
from lamina.files import write_json
from lamina.report.figures import pyplot, save_figure


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One plain row per trial: number, state, values, params, epochs, parameter count, test scores."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({
            "number": t.number,
            "state": t.state.name.lower(),
            "values": t.values,
            "params": t.params,
            "epochs": t.user_attrs.get("epochs"),
            "model_params": t.user_attrs.get("params"),
            "test": t.user_attrs.get("test", {}),
            "note": t.user_attrs.get("note", ""),
        })
    return rows


def best_trials(study: Any) -> list[Any]:
    """The best trial (one objective) or the Pareto front sorted by the metric (several), each configuration once.

    A sampler may draw a configuration again; the repeat reuses the first trial's result, so without
    this the front would list one architecture several times.
    """
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    if len(study.directions) == 1:
        return [study.best_trial]
    reverse = study.directions[0].name.lower() == "maximize"
    return sorted(first_of_each_configuration(study.best_trials), key=lambda t: t.values[0], reverse=reverse)


def configuration_key(trial: Any) -> str:
    """The run config a trial trained, as canonical JSON: trials that drew the same configuration share it."""
    return json.dumps(trial.user_attrs.get("config", trial.params), sort_keys=True)


def first_of_each_configuration(trials: list[Any]) -> list[Any]:
    """``trials`` keeping, for each configuration, only its lowest-numbered trial."""
    first: dict[str, int] = {}
    for t in sorted(trials, key=lambda t: t.number):
        first.setdefault(configuration_key(t), t.number)
    return [t for t in trials if first[configuration_key(t)] == t.number]


def write_report(study: Any, out: Path, names: list[str]) -> dict[str, Any]:
    """Write best.yaml, pareto/*.yaml, report.json and figures/*.png into ``out``; return the report."""
    out.mkdir(parents=True, exist_ok=True)
    best = best_trials(study)
    rows = trial_rows(study)
    several = len(study.directions) > 1
    if best:
        save_config(parse_run_spec(best[0].user_attrs["config"], f"trial {best[0].number} config"), out / "best.yaml")
    for t in best if several else []:
        save_config(parse_run_spec(t.user_attrs["config"], f"trial {t.number} config"), out / "pareto" / f"trial-{t.number}.yaml")
    report = {
        "study": study.study_name,
        "objectives": names,
        "directions": [d.name.lower() for d in study.directions],
        "trials": len(rows),
        "states": {s: sum(r["state"] == s for r in rows) for s in sorted({r["state"] for r in rows})},
        "unique_configurations": len({configuration_key(t) for t in study.get_trials(deepcopy=False)
                                      if t.state.name in ("COMPLETE", "PRUNED")}),
        "epochs_total": sum(r["epochs"] or 0 for r in rows if r["state"] in ("complete", "pruned")),
        "best": [_summary(t) for t in best[:1]],
        "pareto_front": [_summary(t) for t in best] if several else [],
        "best_config": str(out / "best.yaml") if best else None,
        "figures": write_figures(study, out / "figures", names),
        "rows": rows,
    }
    write_json(out / "report.json", report)
    return report


def _summary(t: Any) -> dict[str, Any]:
    return {"number": t.number, "values": t.values, "params": t.params, "model_params": t.user_attrs.get("params"),
            "epochs": t.user_attrs.get("epochs"), "test": t.user_attrs.get("test", {})}


def varying_params(study: Any) -> list[str]:
    """Parameters that took more than one value among the finished trials (the only ones worth plotting)."""
    from optuna.trial import TrialState

    seen: dict[str, set[str]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        for name, value in t.params.items():
            seen.setdefault(name, set()).add(repr(value))
    return [name for name, values in seen.items() if len(values) > 1]


def write_figures(study: Any, folder: Path, names: list[str]) -> list[str]:
    """Optimization history, parameter importance, parallel coordinates (and the Pareto front) as PNGs."""
    import optuna
    from optuna.visualization import matplotlib as plots

    pyplot()  # matplotlib on the Agg backend before optuna draws

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    folder.mkdir(parents=True, exist_ok=True)
    several = len(study.directions) > 1
    target = {"target": (lambda t: t.values[0]), "target_name": names[0]} if several else {"target_name": names[0]}
    varying = varying_params(study)
    # fANOVA splits the metric's variance among the parameters, whichever way the metric is optimized
    importance = optuna.importance.FanovaImportanceEvaluator(seed=0)
    figures = {"history": lambda: plots.plot_optimization_history(study, **target)}
    if varying:
        figures["importance"] = lambda: plots.plot_param_importances(study, evaluator=importance, params=varying, **target)
        figures["parallel"] = lambda: plots.plot_parallel_coordinate(study, params=varying, **target)
    if several:
        figures["pareto"] = lambda: plots.plot_pareto_front(study, target_names=names)
    written = []
    for name, draw in figures.items():
        try:
            ax = draw()
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # too few finished trials, or no varying parameter
            warnings.warn(f"tune: skipped the {name} figure ({exc})", stacklevel=2)
            continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(9, 5.5)
        written.append(str(save_figure(fig, folder / f"{name}.png", dpi=110)))
    return written

