"""Diagnosis of a run folder: monitor.json (the samples) in, diagnosis.json (the findings) out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamina.diagnose.detectors import detect
from lamina.errors import RunFolderError
from lamina.files import read_json, read_jsonl, write_json


def read_history(path: Path) -> list[dict[str, Any]]:
    """The epoch logs of metrics.jsonl (empty when training stopped before the first epoch ended)."""
    return read_jsonl(path)


def write_diagnosis(root: Path, monitor: dict[str, Any], diverged: str | None = None) -> dict[str, Any]:
    """Save the monitor record, run the detectors on it, the epoch logs and the test forecast errors
    (evaluation.json, when the run forecasts), and write diagnosis.json."""
    write_json(root / "monitor.json", monitor)
    history = read_history(root / "metrics.jsonl")
    evaluation = read_json(root / "evaluation.json") if (root / "evaluation.json").is_file() else {}
    findings = [f.to_json() for f in detect({**monitor, "diverged": diverged, "forecast": evaluation.get("forecast")},
                                            history)]
    diagnosis = {"healthy": not findings, "findings": findings, "diverged": diverged,
                 "samples": len(monitor.get("samples", [])), "epochs": len(history)}
    write_json(root / "diagnosis.json", diagnosis)
    return diagnosis


def diagnose_run(path: str | Path) -> dict[str, Any]:
    """Re-read a finished run's monitor.json and metrics.jsonl, run the detectors again, rewrite diagnosis.json."""
    root = Path(path)
    if not (root / "config.yaml").is_file():
        raise RunFolderError(f"{root} is not a run folder: config.yaml is missing")
    if not (root / "monitor.json").is_file():
        raise RunFolderError(f"{root}/monitor.json is missing; train with train.diagnose: true to record one")
    previous = read_json(root / "diagnosis.json") if (root / "diagnosis.json").is_file() else {}
    return write_diagnosis(root, read_json(root / "monitor.json"), previous.get("diverged"))


def format_diagnosis(diagnosis: dict[str, Any], retrains: bool = True) -> str:
    """The findings as plain lines, each with its remedy, for the end of training and `lamina diagnose`.

    ``retrains`` adds how to apply the remedies (``--remedy``, which retrains supervised runs only).
    """
    if diagnosis["healthy"]:
        return f"diagnosis: no problems found ({diagnosis['samples']} monitor samples, {diagnosis['epochs']} epochs)"
    lines = [f"diagnosis: {len(diagnosis['findings'])} problem(s) found"]
    for f in diagnosis["findings"]:
        lines.append(f"  - {f['message']}")
        lines.append(f"    remedy: {f['remedy']}")
    if retrains:
        lines.append("  (lamina train CONFIG --remedy applies the remedies and retrains)")
    return "\n".join(lines)
