"""The search space: check ``tune.params`` paths against the config, sample them, apply them.

A parameter path is a dotted config field (``train.optimizer.lr``, ``model.hidden``).
Sampling follows declaration order, so a ``when`` condition may name a parameter
declared before it (or a field fixed in the config).
"""

from __future__ import annotations

import copy
from typing import Any

from lamina.config import ParamSpec, RunSpec, TuneSpec
from lamina.errors import ConfigError, did_you_mean
from lamina.registry import PRESETS


def check_space(spec: RunSpec) -> None:
    """Refuse parameter paths that name no config field, with a "did you mean" for typos."""
    tune = _tune(spec)
    config = spec.to_dict()
    config.pop("tune", None)
    model_fields = _model_fields(spec, tune)
    for path, param in tune.params.items():
        _check_path(path, config, model_fields)
        for other in (param.when or {}):
            if other not in tune.params:
                _check_path(other, config, model_fields, f"tune.params.{path}.when")
            elif list(tune.params).index(other) > list(tune.params).index(path):
                raise ConfigError(f"tune.params.{path}.when names {other}, which must be declared before {path}")
    if tune.nas is not None and any(p.startswith("model.") for p in tune.params):
        raise ConfigError("tune.nas builds model.layers itself; remove the model.* entries from tune.params")


def _tune(spec: RunSpec) -> TuneSpec:
    if spec.tune is None:
        raise ConfigError("the config has no tune: section; add tune.params (fields to search) or tune.nas")
    return spec.tune


def _model_fields(spec: RunSpec, tune: TuneSpec) -> set[str]:
    """Model fields a parameter may set: the current ones, plus the options of every searched preset."""
    fields = {"arch", "layers", "init"} | set(spec.model.model_extra or {})
    arch = tune.params.get("model.arch")
    for name in (arch.choices or []) if arch is not None else []:
        fields |= set(PRESETS.get(str(name), "tune.params.model.arch choices").options.model_fields)
    return fields


def _check_path(path: str, config: dict[str, Any], model_fields: set[str], where: str = "tune.params") -> None:
    parts = path.split(".")
    if parts[0] == "model" and len(parts) == 2:
        if parts[1] not in model_fields:
            raise ConfigError(f"{where}: {path} is not a config field." + did_you_mean(parts[1], model_fields)
                              + f" Model fields here: {', '.join(sorted(model_fields))}")
        return
    node: Any = config
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            known = sorted(node) if isinstance(node, dict) else []
            prefix = ".".join(parts[:depth])
            hint = did_you_mean(part, known)
            allowed = f" Fields of {prefix or 'the config'}: {', '.join(known)}" if known else f" {prefix} is not a section"
            raise ConfigError(f"{where}: {path} is not a config field.{hint}{allowed}")
        node = node[part]


def sample_params(trial: Any, tune: TuneSpec, base: dict[str, Any]) -> dict[str, Any]:
    """Ask the trial for every active parameter (conditions checked in declaration order)."""
    chosen: dict[str, Any] = {}
    for path, param in tune.params.items():
        if not _active(param, chosen, base):
            continue
        chosen[path] = suggest(trial, path, param)
    return chosen


def suggest(trial: Any, name: str, param: ParamSpec) -> Any:
    """One optuna suggestion for a parameter spec."""
    if param.choices is not None:
        keys = [_choice_key(c) for c in param.choices]
        picked = trial.suggest_categorical(name, keys)
        return copy.deepcopy(param.choices[keys.index(picked)])
    if param.integer:
        step = int(param.step or 1)
        return trial.suggest_int(name, int(param.low), int(param.high), step=step, log=param.log)
    return trial.suggest_float(name, param.low, param.high, step=param.step, log=param.log)


def _choice_key(choice: Any) -> Any:
    """optuna stores categorical choices as None, bool, int, float or str; lists become their YAML-ish text."""
    if choice is None or isinstance(choice, (bool, int, float, str)):
        return choice
    return repr(choice)


def _active(param: ParamSpec, chosen: dict[str, Any], base: dict[str, Any]) -> bool:
    for path, wanted in (param.when or {}).items():
        value = chosen[path] if path in chosen else get_path(base, path)
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if value not in allowed:
            return False
    return True


def get_path(raw: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of plain config data (None when absent)."""
    node: Any = raw
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def apply_params(raw: dict[str, Any], params: dict[str, Any], chain: list[Any] | None = None) -> dict[str, Any]:
    """A copy of ``raw`` with the sampled values set (and ``chain`` as model.layers), without the tune section.

    When ``model.arch`` changes, options the new preset does not take are dropped.
    """
    out = copy.deepcopy(raw)
    out.pop("tune", None)
    for path, value in params.items():
        node = out
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    model = out["model"]
    if chain is not None:
        out["model"] = {"layers": chain, "init": model.get("init", "default")}
    elif "model.arch" in params:
        allowed = set(PRESETS.get(str(params["model.arch"])).options.model_fields) | {"arch", "init"}
        out["model"] = {k: v for k, v in model.items() if k in allowed}
    return out


def grid_space(tune: TuneSpec) -> dict[str, list[Any]]:
    """The grid sampler's table of values per parameter (choices, or a range with a step)."""
    if tune.nas is not None:
        raise ConfigError("tune.sampler 'grid' cannot search tune.nas; use tpe, random or nsga2")
    grid: dict[str, list[Any]] = {}
    for path, p in tune.params.items():
        if p.when:
            raise ConfigError(f"tune.sampler 'grid' needs unconditional parameters; tune.params.{path} has when")
        if p.choices is not None:
            grid[path] = [_choice_key(c) for c in p.choices]
        elif p.step is not None or p.integer:
            step = p.step or 1
            count = int(round((p.high - p.low) / step)) + 1
            values = [p.low + i * step for i in range(count)]
            grid[path] = [int(v) for v in values] if p.integer else values
        else:
            raise ConfigError(f"tune.sampler 'grid' needs choices or a step for tune.params.{path}; "
                              f"got a continuous range {p.low}..{p.high}")
    return grid
