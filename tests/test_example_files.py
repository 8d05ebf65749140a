"""The packaged examples: listed, copied with their data, and found from any folder (issue 23, item 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lamina.cli import app
from lamina.errors import ConfigError
from lamina.example_files import catalog, copy_example, locate, packaged_root, resolve_data_path

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_holds_the_repository_examples() -> None:
    repository = sorted(p.relative_to(ROOT / "examples").as_posix() for p in (ROOT / "examples").rglob("*.yaml"))
    names = [name for name, _ in catalog()]
    assert [f"{n}.yaml" for n in names] == repository
    assert all(about for _, about in catalog()), "every example config opens with a comment saying what it shows"


def test_copy_writes_the_config_and_the_data_it_names(tmp_path: Path) -> None:
    written = copy_example("tabular_csv", tmp_path)
    config = tmp_path / "examples" / "tabular_csv.yaml"
    assert config in written
    data_path = yaml.safe_load(config.read_text())["data"]["path"]
    assert (tmp_path / data_path).is_file()
    assert (tmp_path / data_path).read_bytes() == (packaged_root() / "data" / "penguins_like.csv").read_bytes()
    assert copy_example("tabular_csv", tmp_path) == []  # identical files are left alone


def test_copy_never_replaces_an_edited_file_without_force(tmp_path: Path) -> None:
    copy_example("iris_mlp", tmp_path)
    edited = tmp_path / "examples" / "iris_mlp.yaml"
    edited.write_text("name: mine\n")
    with pytest.raises(ConfigError, match="already exists with other contents"):
        copy_example("iris_mlp", tmp_path)
    assert edited.read_text() == "name: mine\n"
    copy_example("iris_mlp", tmp_path, overwrite=True)
    assert edited.read_bytes() == (packaged_root() / "iris_mlp.yaml").read_bytes()


def test_an_unknown_example_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no example called 'irsi_mlp'.*iris_mlp"):
        copy_example("irsi_mlp", tmp_path)


def test_a_path_under_examples_falls_back_to_the_packaged_copy_only_when_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert locate("examples/iris_mlp.yaml", announce=False) == packaged_root() / "iris_mlp.yaml"
    assert locate("examples/no_such.yaml", announce=False) == Path("examples/no_such.yaml")
    assert locate("configs/iris.yaml", announce=False) == Path("configs/iris.yaml")
    copy_example("iris_mlp", tmp_path)
    assert locate("examples/iris_mlp.yaml", announce=False) == Path("examples/iris_mlp.yaml")
    raw = resolve_data_path({"data": {"path": "examples/data/seasonal.csv"}})
    assert raw["data"]["path"] == str(packaged_root() / "data" / "seasonal.csv")


def test_version_and_examples_commands() -> None:
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("lamina ")
    listing = runner.invoke(app, ["examples", "list"])
    assert listing.exit_code == 0 and "tabular_csv" in listing.output


def test_a_help_example_runs_as_written_from_an_empty_folder(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "lamina", "summary", "examples/digits_resnet.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "packaged copy" in done.stderr and "trainable parameters" in done.stdout
