"""Config inheritance: ``extends: base.yaml`` (or a list of bases) at the top of a run config.

A config names the configs it builds on; their sections are merged under its own, mappings
key by key (deeply) and everything else (lists, numbers, text) replaced whole, as Hydra's
defaults and Ludwig's and Lightning's config composition do. Paths are relative to the file
that names them. A base that extends, directly or not, the config being read is a cycle and
is refused with the whole chain named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamina.errors import ConfigError

KEY = "extends"
MAX_DEPTH = 20  # no sane hierarchy is deeper; a longer chain is a mistake worth a message


def resolve_extends(raw: Any, path: Path, chain: tuple[Path, ...] = ()) -> Any:
    """``raw`` (read from ``path``) with its ``extends:`` bases merged under it; anything without one unchanged."""
    if not isinstance(raw, dict) or KEY not in raw:
        return raw
    here = path.resolve()
    chain = chain + (here,)
    if len(chain) > MAX_DEPTH:
        raise ConfigError(f"{path}: extends: chains more than {MAX_DEPTH} configs deep")
    names = raw[KEY]
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError(f"{path}: extends must be a config path or a list of them; got {str(raw[KEY])[:60]!r}")
    merged: dict[str, Any] = {}
    for name in names:
        base_path = (here.parent / name).resolve()
        if base_path in chain:
            cycle = " -> ".join(p.name for p in chain[chain.index(base_path):] + (base_path,))
            raise ConfigError(f"{path}: extends: makes a cycle: {cycle}")
        merged = deep_merge(merged, _read_base(base_path, name, path, chain))
    own = {k: v for k, v in raw.items() if k != KEY}
    return deep_merge(merged, own)


def _read_base(base_path: Path, name: str, child: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    from lamina.config import parse_yaml

    if not base_path.is_file():
        raise ConfigError(f"{child}: extends names {name}, which does not exist ({base_path})")
    base = parse_yaml(base_path.read_text(encoding="utf-8", errors="replace"), f"config file {base_path}")
    if not isinstance(base, dict):
        raise ConfigError(f"{base_path} (extended by {child}) must be a mapping of sections; got {type(base).__name__}")
    return resolve_extends(base, base_path, chain)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A new mapping: ``base`` with ``over`` laid on top; nested mappings merge, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
