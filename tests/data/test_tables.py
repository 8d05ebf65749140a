"""CSV and NPZ data: task inference, imputation, categorical encoding, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.config import DataSpec
from lamina.data.prepare import prepare_data
from lamina.data.readers import SAMPLE_BYTES, Table, read_csv, read_table
from lamina.errors import ConfigError, DataError


def test_csv_columns_are_typed_imputed_and_encoded(tabular_csv: Path) -> None:
    data = prepare_data(DataSpec(path=str(tabular_csv), target="label"))
    cols = {c.name: c for c in data.preprocessor.inputs.columns}
    assert cols["size"].kind == "numeric" and cols["colour"].kind == "categorical"
    assert cols["colour"].categories == ["blue", "green", "red"]
    assert data.input_shape == (1 + 1 + 3,)
    assert data.task == "multiclass" and data.preprocessor.target.classes == ["high", "low", "mid"]
    assert np.isfinite(data.train.x.numpy()).all()


def test_splits_are_views_of_one_array_in_split_order(tabular_csv: Path) -> None:
    data = prepare_data(DataSpec(path=str(tabular_csv), target="label"))
    table = read_table(tabular_csv)
    every = data.preprocessor.inputs.transform_table(
        Table(str(tabular_csv), {name: table.column(name) for name in table.column_names}))
    for split in (data.train, data.val, data.test):
        assert len(split) > 0 and np.array_equal(split.x.numpy(), every[split.rows])
    base = data.train.x.untyped_storage().data_ptr()  # one allocation: the splits are slices, not copies
    assert data.val.x.untyped_storage().data_ptr() == base == data.test.x.untyped_storage().data_ptr()
    assert sorted(np.concatenate([data.train.rows, data.val.rows, data.test.rows]).tolist()) == list(range(240))


def test_csv_types_from_the_first_block_give_way_to_a_later_row(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    rows = SAMPLE_BYTES // 8 + 1000  # past the sampled first block
    path.write_text("a,b,c\n" + "1,2,x\n" * rows + "2.5,words,y\n")
    table = read_table(path)
    assert [str(t) for t in table.schema.types] == ["double", "string", "string"]
    assert table.num_rows == rows + 1 and table.column("a")[-1].as_py() == 2.5 and table.column("b")[-1].as_py() == "words"
    clean = tmp_path / "clean.csv"
    clean.write_text("a,b,c\n" + "1,2,x\n" * rows)
    assert [str(t) for t in read_table(clean).schema.types] == ["int64", "int64", "string"]


def test_missing_values_rejected_when_asked(tabular_csv: Path) -> None:
    with pytest.raises(DataError, match=r"row 7, column 'size' is missing and data.missing is 'reject'"):
        prepare_data(DataSpec(path=str(tabular_csv), target="label", missing="reject"))


def test_missing_target_column_lists_columns(tabular_csv: Path) -> None:
    with pytest.raises(DataError, match=r"has no column 'lable'. Did you mean 'label'\? Columns: size, weight, colour, label"):
        prepare_data(DataSpec(path=str(tabular_csv), target="lable"))


def test_text_in_a_numeric_column_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,0\n3,oops,1\n5,6,0\n7,8,1\n")
    with pytest.raises(DataError, match=r"row 3, column 'b': expected a number; got text 'oops'"):
        prepare_data(DataSpec(path=str(path), target="y", numeric=["b"]))


def test_empty_and_ragged_files(tmp_path: Path) -> None:
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="e.csv is empty"):
        read_csv(empty)
    header = tmp_path / "h.csv"
    header.write_text("a,b\n")
    with pytest.raises(DataError, match="header but no data rows"):
        read_csv(header)
    ragged = tmp_path / "r.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    with pytest.raises(DataError, match="row 3 has 1 fields; the header has 2"):
        read_csv(ragged)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="not UTF-8"):
        read_csv(binary)


def test_regression_and_integer_targets_are_inferred(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 2))
    path = tmp_path / "r.csv"
    path.write_text("a,b,y,k\n" + "\n".join(f"{a},{b},{a * 3 + b:.5f},{int(a > 0)}" for a, b in x))
    reg = prepare_data(DataSpec(path=str(path), target="y", drop=["k"]))
    assert reg.task == "regression"
    cls = prepare_data(DataSpec(path=str(path), target="k", drop=["y"]))
    assert cls.task == "binary" and cls.preprocessor.target.classes == ["0", "1"]
    multi = prepare_data(DataSpec(path=str(path), target=["y", "k"]))
    assert multi.task == "regression" and multi.n_outputs == 2


def test_npz_arrays(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.normal(size=(60, 3, 5)).astype(np.float32), y=rng.integers(0, 3, 60))
    data = prepare_data(DataSpec(path=str(path)))
    assert data.input_shape == (1, 3, 5) and data.task == "multiclass"
    flat = prepare_data(DataSpec(path=str(path), view="flat"))
    assert flat.input_shape == (15,)
    with pytest.raises(DataError, match="has no array 'labels'; it holds: x, y"):
        prepare_data(DataSpec(path=str(path), y_key="labels"))


def test_npz_with_objects_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "o.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match="not a readable NPZ file"):
        prepare_data(DataSpec(path=str(path)))


def test_unknown_file_format(tmp_path: Path) -> None:
    path = tmp_path / "d.xyz"
    path.write_text("x")
    with pytest.raises(ConfigError, match="unknown format '.xyz'"):
        prepare_data(DataSpec(path=str(path)))
