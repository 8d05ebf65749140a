"""``extends:`` config inheritance: deep merge, relative paths, cycles named (issue 23, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lamina.config import load_config
from lamina.errors import ConfigError
from lamina.lm.config import read_raw_config


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_config_extends_bases_by_relative_path_with_a_deep_merge(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "base.yaml", {"seed": 3, "data": {"dataset": "iris", "split": {"val": 0.2, "test": 0.2}},
                                             "model": {"arch": "mlp", "hidden": [64, 32]},
                                             "train": {"epochs": 40, "optimizer": {"name": "adam", "lr": 0.01}}})
    write(tmp_path / "shared" / "short.yaml", {"extends": "base.yaml", "train": {"epochs": 5}})
    child = write(tmp_path / "runs" / "child.yaml", {"extends": ["../shared/short.yaml"], "name": "child",
                                                     "model": {"hidden": [8]}, "train": {"optimizer": {"lr": 0.1}}})
    spec = load_config(child, ["train.batch_size=16"])
    assert spec.name == "child" and spec.seed == 3 and spec.data.dataset == "iris"
    assert spec.model.hidden == [8]  # lists are replaced, not appended
    assert spec.train.epochs == 5 and spec.train.optimizer.name == "adam" and spec.train.optimizer.lr == 0.1
    assert spec.data.split.val == 0.2 and spec.train.batch_size == 16
    assert read_raw_config(child)["train"]["epochs"] == 5


def test_a_cycle_is_refused_with_its_chain(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", {"extends": "b.yaml", "data": {"dataset": "iris"}})
    write(tmp_path / "b.yaml", {"extends": "c.yaml"})
    write(tmp_path / "c.yaml", {"extends": "a.yaml"})
    with pytest.raises(ConfigError, match=r"cycle: a\.yaml -> b\.yaml -> c\.yaml -> a\.yaml"):
        load_config(tmp_path / "a.yaml")


@pytest.mark.parametrize("extends, message", [("missing.yaml", "extends names missing.yaml, which does not exist"),
                                              (5, "extends must be a config path or a list"),
                                              ("list.yaml", "must be a mapping of sections")])
def test_bad_bases_are_named(tmp_path: Path, extends: object, message: str) -> None:
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    child = write(tmp_path / "child.yaml", {"extends": extends, "data": {"dataset": "iris"}})
    with pytest.raises(ConfigError, match=message):
        load_config(child)
