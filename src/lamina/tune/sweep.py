"""Quick grid sweeps from the command line: ``lamina train CONFIG --sweep key=v1,v2 --sweep other=a,b``.

A sweep is a grid search written on one line, as Hydra's multirun and W&B's grid sweeps allow.
It becomes a ``tune:`` section with the grid sampler and one trial per combination, so it
runs through the tuner (shared study, resume by rerunning, report and figures) and ends in
one table comparing every combination.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import yaml

from lamina.errors import ConfigError


def parse_sweeps(items: list[str]) -> dict[str, list[Any]]:
    """``["train.optimizer.lr=1e-3,3e-3", "model.hidden=[64],[128, 64]"]`` -> ``{path: [values]}``.

    Commas split values only outside brackets and braces, so lists and mappings are values too;
    each value is read as YAML (numbers, booleans, lists) like ``--set`` values, and ``1e-3`` is a number.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ConfigError(f"--sweep expects key.path=value1,value2,...; got {item[:60]!r}")
        if key in grid:
            raise ConfigError(f"--sweep names {key} twice; give all its values in one --sweep")
        values = [_value(part, key) for part in _split_top_level(text, key)]
        if len(values) < 2:
            raise ConfigError(f"--sweep {key} needs at least two values separated by commas; got {text[:60]!r}")
        grid[key] = values
    return grid


def _split_top_level(text: str, key: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(char, 0)
        if depth < 0:
            raise ConfigError(f"--sweep {key}: unbalanced brackets in {text[:60]!r}")
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise ConfigError(f"--sweep {key}: unbalanced brackets in {text[:60]!r}")
    return parts + [text[start:]]


def _value(text: str, key: str) -> Any:
    text = text.strip()
    if not text:
        raise ConfigError(f"--sweep {key} has an empty value (two commas in a row?)")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"--sweep {key}: cannot read the value {text[:60]!r}") from None
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as text; a sweep over numbers means numbers
        try:
            return float(value)
        except ValueError:
            return value
    return value


def sweep_config(raw: dict[str, Any], grid: dict[str, list[Any]]) -> dict[str, Any]:
    """A copy of the raw config whose ``tune:`` section searches exactly the grid, one trial per combination.

    A config that already has a ``tune:`` section is refused: which of the two spaces to search
    would be a guess.
    """
    if raw.get("tune") is not None:
        raise ConfigError("--sweep builds the config's tune: section itself; this config already has one "
                          "(run lamina tune on it instead, or drop --sweep)")
    out = copy.deepcopy(raw)
    out["tune"] = {"sampler": "grid", "trials": math.prod(len(v) for v in grid.values()),
                   "params": {key: {"choices": values} for key, values in grid.items()}}
    return out


def sweep_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The tuner's trials, in order, as the comparison table's rows: the combination, the score, the test metrics."""
    return [{"trial": row["number"], "params": row["params"], "state": row["state"],
             "value": (row["values"] or [None])[0], "test": row["test"]} for row in report["rows"]]
