"""Grad-CAM looks at the digit's ink; `explain_run` writes overlay PNGs for images and tables for tabular runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError
from lamina.explain.attribute import attribute
from lamina.explain.run import explain_run
from lamina.files import read_json
from lamina.runs import Run
from lamina.trainer import train
from tests.conftest import quick_spec

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("cnn")
    spec = quick_spec(tmp, data={"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
                      model={"arch": "cnn", "channels": [16, 32], "dense": [64]},
                      train={"epochs": 8, "batch_size": 32, "optimizer": {"lr": 0.003}, "tensorboard": False})
    return train(spec, progress="none")


def test_gradcam_puts_more_mass_on_ink_than_background(digits_cnn: Run) -> None:
    data = prepare_data(digits_cnn.spec.data, fitted=digits_cnn.preprocessor)
    x = data.test.x[:200].float()
    _, cam, _ = attribute("gradcam", digits_cnn.model, x, x[:1])  # the last conv block, upsampled to 8x8
    cam = cam.sum(dim=1)  # (B, H, W), non-negative (ReLU'd Grad-CAM)
    ink = x[:, 0] > x[:, 0].amin(dim=(1, 2), keepdim=True) + 1e-6  # non-blank pixels of each digit
    on_ink = float((cam * ink).sum() / cam.sum())
    share = float(ink.float().mean())
    assert on_ink > 0.5, f"{on_ink:.3f} of Grad-CAM's mass on ink ({share:.3f} of pixels)"
    assert on_ink > share + 0.04  # more than a uniform map would put there


def test_explain_writes_image_overlays(digits_cnn: Run) -> None:
    result = explain_run(digits_cnn.folder.root, "gradcam", count=4)
    png = digits_cnn.folder.root / "explanations" / "gradcam.png"
    assert str(png) in result["files"] and png.read_bytes().startswith(PNG)
    assert len(read_json(png.with_suffix(".json"))["targets"]) == 4


def test_explain_tabular_table_and_ig_completeness(tmp_path: Path) -> None:
    run = train(quick_spec(tmp_path, train={"epochs": 5, "batch_size": 16, "tensorboard": False}), progress="none")
    result = explain_run(run.folder.root, "ig", count=6)
    assert result["facts"]["relative_error"] < 0.05
    rows = list(csv.DictReader((run.folder.root / "explanations" / "integrated_gradients.csv").open()))
    assert len(rows) == 6 and {"sample", "explained"} < set(rows[0]) and len(rows[0]) == 2 + 4
    shap = explain_run(run.folder.root, "shap", count=2)
    assert shap["method"] == "kernel_shap"
    with pytest.raises(ConfigError, match="method must be one of"):
        explain_run(run.folder.root, "lime")
