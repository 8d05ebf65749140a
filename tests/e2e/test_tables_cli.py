"""Real tables through the command line: the schema before training, and bad table inputs as one error line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lamina.cli import app


def train(tmp_path: Path, data: dict, *extra: str) -> tuple[int, str]:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "t", "runs_dir": str(tmp_path / "runs"), "data": data,
                                      "model": {"arch": "mlp", "hidden": [8]},
                                      "train": {"epochs": 1, "tensorboard": False, "diagnose": False}}))
    result = CliRunner().invoke(app, ["train", str(config), *extra])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_the_schema_is_printed_before_training_and_saved(tmp_path: Path) -> None:
    from tests.data.test_schema import messy_table

    code, out = train(tmp_path, {"path": str(messy_table(tmp_path / "m.csv")), "target": "label"}, "--progress", "plain")
    assert code == 0, out
    schema_at, epoch_at = out.index("column "), out.index("epoch 1/1")
    assert schema_at < epoch_at
    assert "name " in out and "free text" in out and "calendar features" in out
    saved = json.loads((tmp_path / "runs" / "t" / "schema.json").read_text())["columns"]
    assert {r["column"]: r["action"] for r in saved}["code"] == "left out"


def bad_cases(tmp_path: Path) -> dict[str, tuple[dict, str]]:
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n" + "\n".join(f"{i % 7},w{i % 3},{i % 2}" for i in range(30)) + "\n")
    damaged = tmp_path / "d.parquet"
    damaged.write_bytes(b"PAR1" + bytes(range(200)) + b"PAR1")
    no_target = tmp_path / "n.csv"
    no_target.write_text("a,y\n1,\n2,NA\n3,\n")
    return {
        "damaged parquet": ({"path": str(damaged), "target": "y"}, "d.parquet is not a readable parquet file"),
        "override of a missing column": ({"path": str(table), "target": "y", "columns": {"c": "numeric"}},
                                         "has no column (data.columns) 'c'"),
        "override that cannot apply": ({"path": str(table), "target": "y", "columns": {"b": "numeric"}},
                                       "column 'b': expected a number; got text 'w0'"),
        "all-missing target": ({"path": str(no_target), "target": "y"}, "the target y is missing in every row (3)"),
    }


@pytest.mark.parametrize("case", ["damaged parquet", "override of a missing column", "override that cannot apply",
                                  "all-missing target"])
def test_bad_table_inputs_give_one_error_line_and_exit_2(tmp_path: Path, case: str) -> None:
    data, expected = bad_cases(tmp_path)[case]
    code, out = train(tmp_path, data, "--progress", "none")
    assert code == 2, out
    assert out.startswith("error: ") and expected in out, out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
