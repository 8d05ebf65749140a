"""Install lamina's wheel into an empty virtualenv and use it from a folder that is not the repository.

What a ``pip install`` user gets: the wheel is built from this checkout, installed (torch first, from
the pinned constraints) into a fresh virtualenv in a temporary folder, and then, from another empty
folder, ``lamina --version``, ``lamina examples list``, ``lamina demo`` and two ``--help`` examples run
as written. It prints the install's time and the virtualenv's size, so the base install can be
compared with the ``text`` extra (``--extras text``).

    python benchmarks/install_check.py                 # base install
    python benchmarks/install_check.py --extras text   # with the pretrained-text extra
    python benchmarks/install_check.py --source OTHER_CHECKOUT --install-only   # size and time of another version
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP_EXAMPLES = [  # exactly as `lamina summary --help` and `lamina predict --help` print them
    ["lamina", "summary", "examples/digits_resnet.yaml"],
    ["lamina", "predict", "runs/penguins-mlp", "examples/data/penguins_like_new.csv", "--out", "preds.csv"],
]


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Run one command (failing loudly with its output) and return its seconds."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def folder_megabytes(folder: Path) -> float:
    """Bytes under ``folder`` (files only, links not followed), in MB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def main() -> None:
    """Build, install, use, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="", help="extras to install with the wheel, e.g. text")
    parser.add_argument("--source", type=Path, default=ROOT, help="the checkout to build (default: this one)")
    parser.add_argument("--install-only", action="store_true", help="measure the install, skip the commands")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(scratch / "wheel"), str(args.source)], ROOT)
        wheel = next((scratch / "wheel").glob("lamina-*.whl"))
        venv = scratch / "venv"
        run([sys.executable, "-m", "venv", str(venv)], scratch)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
        torch_seconds = run(pip + ["torch==2.13.0"], scratch)
        torch_size = folder_megabytes(venv)
        spec = f"{wheel}[{args.extras}]" if args.extras else str(wheel)
        lamina_seconds = run(pip + [spec], scratch)
        size = folder_megabytes(venv)
        user = scratch / "user"
        user.mkdir()
        env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        env.pop("PYTHONPATH", None)
        checks = [["lamina", "--version"], ["lamina", "examples", "list"], ["lamina", "demo", "--progress", "none"],
                  ["lamina", "train", "examples/tabular_csv.yaml", "--set", "train.epochs=2", "--progress", "none"],
                  *HELP_EXAMPLES]
        for command in [] if args.install_only else checks:
            seconds = run(command, user, env)
            print(f"ok   {' '.join(command)}  ({seconds:.1f} s)")
        print(f"\nwheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB; extras: {args.extras or 'none'}")
        print(f"torch alone: {torch_seconds:.1f} s, {torch_size:.0f} MB of virtualenv")
        print(f"lamina and its other dependencies: {lamina_seconds:.1f} s, {size - torch_size:.0f} MB more "
              f"({size:.0f} MB in all)")


if __name__ == "__main__":
    main()
