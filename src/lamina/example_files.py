"""The example configs and their data, shipped inside the package so a ``pip install`` user has them.

The repository's ``examples/`` folder is the package data ``lamina/examples`` (a link in the source
tree, real files in the wheel). Every example, README line and ``--help`` text names files as
``examples/...`` relative to the current folder. One rule keeps them working from any folder:
a path under ``examples/`` that the current folder does not have refers to the packaged copy,
and lamina says so in one line. ``lamina examples copy NAME`` puts a copy in the current folder
for editing, and from then on that copy wins.
"""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path

from lamina.errors import ConfigError

PREFIX = "examples"
DATA_REFERENCE = re.compile(r"examples/data/[\w.\-]+")


def packaged_root() -> Path:
    """The folder of the packaged examples (inside the installed package, or the source tree's link)."""
    return Path(str(resources.files("lamina") / PREFIX))


def locate(path: str | Path, announce: bool = True) -> Path:
    """``path`` itself when it exists (or is not under ``examples/``), else the packaged example it names.

    Why: ``lamina train examples/digits_cnn.yaml`` should run as written in any folder, not only in a
    clone of the repository. The note goes to stderr so that piped output stays clean.
    """
    path = Path(path)
    if path.exists() or path.is_absolute() or not path.parts or path.parts[0] != PREFIX:
        return path
    packaged = packaged_root().joinpath(*path.parts[1:])
    if not packaged.exists():
        return path
    if announce:
        print(f"note: {path} is not in this folder; using lamina's packaged copy "
              f"(`lamina examples copy` puts one here)", file=sys.stderr)
    return packaged


def catalog() -> list[tuple[str, str]]:
    """Every example config as (name, what it shows), the name being its path under ``examples/`` without .yaml."""
    root = packaged_root()
    found = []
    for config in sorted(root.rglob("*.yaml")):
        name = config.relative_to(root).with_suffix("").as_posix()
        found.append((name, _first_comment(config)))
    return found


def _first_comment(config: Path) -> str:
    """The first sentence of the config's opening comment, without its file-name prefix: what it is about."""
    lines = []
    for line in config.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#") or (lines and not line.lstrip("# ").strip()):
            break
        lines.append(line.lstrip("# ").strip())
    text = " ".join(lines)
    head, _, rest = text.partition(":")
    text = rest.strip() if head.endswith(".yaml") else text
    return text.split(". ")[0].rstrip(".")


def copy_example(name: str, destination: Path, overwrite: bool = False) -> list[Path]:
    """Copy example ``name`` (and the data files it names) to ``destination/examples/``; return what was written.

    The layout matches the repository's, so the paths inside the config work unchanged from ``destination``.
    A file already there with other contents is kept unless ``overwrite``: a user's edited copy is never
    replaced silently (an identical one, e.g. data two examples share, is simply left as it is).
    """
    from lamina.files import atomic_write_bytes

    root = packaged_root()
    config = root / f"{name.removesuffix('.yaml')}.yaml"
    if not config.is_file():
        known = ", ".join(n for n, _ in catalog())
        raise ConfigError(f"there is no example called {name!r}; the examples are: {known}")
    sources = [config] + [root.joinpath(*ref.split("/")[1:])
                          for ref in sorted(set(DATA_REFERENCE.findall(config.read_text(encoding="utf-8"))))]
    written = []
    for source in sources:
        if not source.is_file():
            continue
        target = destination / PREFIX / source.relative_to(root)
        contents = source.read_bytes()
        if target.is_file() and target.read_bytes() == contents:
            continue
        if target.exists() and not overwrite:
            raise ConfigError(f"{target} already exists with other contents; pass --force to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, contents)
        written.append(target)
    return written


def resolve_data_path(raw: object) -> object:
    """A raw config whose ``data.path`` names an example file missing here, pointed at the packaged copy.

    Why: a packaged example config names its data as ``examples/data/...``; run from any folder, that
    file is the packaged one. Any other config is returned unchanged (the caller validates it).
    """
    data = raw.get("data") if isinstance(raw, dict) else None
    if isinstance(data, dict) and isinstance(data.get("path"), str) and data["path"].startswith(f"{PREFIX}/"):
        data["path"] = str(locate(data["path"]))
    return raw
