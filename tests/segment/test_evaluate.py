"""``lamina evaluate`` on U-Net run folders (the user's images, the generated shapes set): the test figures again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.evaluate.run import evaluate_run, run_kind
from lamina.runs import RunFolder
from lamina.segment.folder import parse_segmentation_run, train_segmentation_folder
from lamina.segment.train import SegmentationSettings, train_segmentation
from tests.segment.test_folder import write_shapes


def test_evaluate_rescores_both_kinds_of_unet_run_to_their_summaries_and_diagnosis_watches_one(tmp_path: Path) -> None:
    images, masks = write_shapes(tmp_path, 16, size=8, seed=1)
    folder = train_segmentation_folder(parse_segmentation_run({
        "name": "seg", "runs_dir": str(tmp_path / "runs"), "seed": 0,
        "data": {"path": str(images), "masks": str(masks), "image": {"cache": str(tmp_path / "cache")},
                 "split": {"val": 0.25, "test": 0.25}},
        "model": {"arch": "unet", "width": 2},
        "train": {"epochs": 2, "batch_size": 4, "diagnose": True, "diagnose_every": 1}}), "none")["folder"]
    shapes = train_segmentation(SegmentationSettings(name="shapes", train=16, val=4, test=6, size=8, width=2, epochs=1,
                                                     batch_size=8), tmp_path / "runs", "none")["folder"]
    monitor = json.loads((Path(folder) / "monitor.json").read_text())  # train.diagnose: the monitor watched the U-Net
    diagnosis = json.loads((Path(folder) / "diagnosis.json").read_text())
    assert diagnosis["epochs"] == 2 and diagnosis["samples"] == len(monitor["samples"]) >= 4  # 2 steps an epoch
    assert any("conv" in name or "." in name for name in monitor["layers"]) and monitor["activations"]
    assert all(all(v > 0 for v in s["grad_norm"].values()) for s in monitor["samples"])
    assert monitor["baseline_loss"] > 0 and monitor["class_counts"] == []  # pixel-class prior; no table classes
    assert (Path(shapes) / "diagnosis.json").is_file()  # train.diagnose is on by default, as in every run
    for root, images_scored in ((folder, 4), (shapes, 6)):
        assert run_kind(RunFolder(root)) == "unet"
        report = evaluate_run(root)
        test = json.loads((Path(root) / "summary.json").read_text())["test"]
        assert report["samples"] == images_scored and report["split"] == "test"
        assert report["metrics"]["pixel_accuracy"] == pytest.approx(test["pixel_accuracy"], abs=1e-6)
        assert report["metrics"]["mean_iou"] == pytest.approx(test["mean_iou"], abs=1e-6)
        assert {k[4:]: v for k, v in report["metrics"].items() if k.startswith("iou_")} == pytest.approx(test["iou"],
                                                                                                        abs=1e-6)
        assert json.loads((Path(root) / "evaluation.json").read_text()) == report
