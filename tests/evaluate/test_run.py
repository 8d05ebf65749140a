"""The run-kind dispatch of ``lamina evaluate``: every family's folder finds its scorer, a supervised one finds none."""

from __future__ import annotations

import json

import pytest

from lamina.errors import RunFolderError
from lamina.evaluate.run import RUN_KINDS, evaluate_run, run_kind
from lamina.runs import RunFolder


def test_every_family_registers_a_run_kind_and_other_folders_match_none(tmp_path) -> None:
    assert set(RUN_KINDS.names()) == {"generative", "language_model", "dpo", "reward", "unet", "pretraining"}
    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    assert run_kind(folder) is None  # no config.yaml: the supervised path, which says what is missing
    with pytest.raises(RunFolderError, match="config.yaml is missing"):
        evaluate_run(folder.root)
    folder.config.write_text("data: {dataset: iris}\nmodel: {arch: mlp}\ngenerative: null\n")
    assert run_kind(folder) is None  # a supervised run's config
    folder.config.write_text("task: language_model\n")
    assert run_kind(folder) == "language_model"
    folder.config.write_text("preference: {method: reward}\n")
    assert run_kind(folder) == "reward"
    folder.config.write_text("data: {path: images, masks: masks}\n")
    assert run_kind(folder) == "unet"
    folder.config.write_text(": not yaml [")
    (folder.root / "pretrain.json").write_text(json.dumps({"method": "simclr"}))
    assert run_kind(folder) == "pretraining"  # an unreadable config matches no config-read kind
