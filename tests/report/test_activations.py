"""The report's activation figure: per-layer spread and dead/saturated fractions over training (issue 24, item 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.report.activations import activation_figure, activation_series

PNG = b"\x89PNG\r\n\x1a\n"


def _monitor() -> dict:
    samples = [{"step": step, "activations": {
        "layers.1": {"mean": 1.0 - 0.1 * i, "std": 0.5, "fraction": 0.1 * i},  # a ReLU layer dying
        "layers.3": {"mean": 0.0, "std": 0.9, "fraction": 0.05}}}  # a healthy tanh layer
        for i, step in enumerate((0, 10, 20, 30))]
    return {"activations": {"layers.1": "ReLU", "layers.3": "Tanh"}, "samples": samples}


def test_series_follow_the_monitor_samples() -> None:
    series = activation_series(_monitor())
    assert list(series) == ["layers.1", "layers.3"]
    assert series["layers.1"]["kind"] == "ReLU" and series["layers.1"]["steps"] == [0, 10, 20, 30]
    assert series["layers.1"]["fraction"] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert series["layers.3"]["std"] == [0.9] * 4


def test_figure_is_drawn_only_when_layers_were_watched(tmp_path: Path) -> None:
    assert activation_figure(_monitor(), tmp_path / "a.png").read_bytes().startswith(PNG)
    assert activation_figure({"activations": {}, "samples": []}, tmp_path / "b.png") is None
    assert not (tmp_path / "b.png").exists()
