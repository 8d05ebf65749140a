"""Column kinds detected from messy tables, data.columns overrides, and the cleaning rules (na_values,
infinities, missing targets), on tables written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.config import DataSpec
from lamina.data.prepare import prepare_data
from lamina.errors import DataError

N = 200


def messy_table(path: Path, n: int = N) -> Path:
    """id, free-text name, date, thousands separators, currency, percent, constant, empty, category, label."""
    rng = np.random.default_rng(0)
    first = ["Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal"]
    amount = rng.uniform(100, 9000, n)
    colour = rng.choice(["red", "green", "blue"], n)
    label = (amount > 4000).astype(int)
    lines = ["row,code,name,signup,amount,price,share,const,empty,colour,label"]
    for i in range(n):
        day = np.datetime64("2020-01-01") + int(rng.integers(0, 900))
        lines.append(f'{i},K{rng.integers(10**9)},{first[i % 8]} Smith{i},{day},"{amount[i]:,.2f}",${amount[i] / 7:.2f},'
                     f'{rng.integers(0, 100)}%,same,,{colour[i]},{label[i]}')
    path.write_text("\n".join(lines) + "\n")
    return path


def kinds(data) -> dict[str, str]:
    return {row["column"]: row["kind"] for row in data.schema}


def test_each_column_kind_is_detected_and_left_out_or_used(tmp_path: Path) -> None:
    spec = DataSpec(path=str(messy_table(tmp_path / "m.csv")), target="label")
    data = prepare_data(spec)
    shared = prepare_data(spec, quality=True)  # number columns' distinct counts come from the quality report
    assert shared.quality.distinct["row"] == N and shared.schema == data.schema
    assert kinds(data) == {"label": "target", "row": "id-like", "code": "id-like", "name": "text",
                           "signup": "datetime", "amount": "numeric", "price": "numeric", "share": "numeric",
                           "const": "constant", "empty": "empty", "colour": "categorical"}
    used = {c.name: c for c in data.preprocessor.inputs.columns}
    assert sorted(used) == ["amount", "colour", "price", "share", "signup"]
    assert used["signup"].parts[:3] == ["year", "month_sin", "month_cos"] and "hour_sin" not in used["signup"].parts
    left = {row["column"]: row["action"] for row in data.schema if row["action"] == "left out"}
    assert set(left) == {"row", "code", "name", "const", "empty"}
    assert data.input_shape == (1 + 1 + 1 + 7 + 3,)


def test_separators_currency_and_percent_become_numbers(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text('a,b,c,y\n"3,504",$12.50,45%,0\n"1,000",€ 2,5%,1\n"12",£0.5,100%,0\n"2,000,000",$1,0%,1\n')
    data = prepare_data(DataSpec(path=str(path), target="y", split={"val": 0, "test": 0}, scale="none"))
    assert np.allclose(data.train.x.numpy(), [[3504, 12.5, 0.45], [1000, 2, 0.05], [12, 0.5, 1.0], [2_000_000, 1, 0.0]])


def test_high_cardinality_category_keeps_the_top_values_plus_other(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "c.csv"
    shops = [f"s{int(v)}" for v in rng.zipf(1.5, 400) % 80]
    path.write_text("shop,y\n" + "\n".join(f"{s},{i % 2}" for i, s in enumerate(shops)) + "\n")
    data = prepare_data(DataSpec(path=str(path), target="y", max_categories=10))
    shop = data.preprocessor.inputs.columns[0]
    assert shop.other and len(shop.categories) == 10 and data.input_shape == (11,)
    assert data.train.x.sum(dim=1).eq(1).all()  # every row is one of the ten or 'other'


@pytest.mark.parametrize("kind, expected_width", [("categorical", 3), ("numeric", 1), ("datetime", 7),
                                                  ("text", None), ("ignore", None)])
def test_data_columns_overrides_each_kind(tmp_path: Path, kind: str, expected_width: int | None) -> None:
    path = tmp_path / "o.csv"
    dates = ["2021-01-01", "2021-06-01", "2022-03-05"]
    path.write_text("v,w,y\n" + "\n".join(f"{dates[i % 3] if kind == 'datetime' else i % 3},{i * 7 % 13},{i % 2}"
                                          for i in range(60)) + "\n")
    data = prepare_data(DataSpec(path=str(path), target="y", columns={"v": kind}))
    row = next(r for r in data.schema if r["column"] == "v")
    assert row["detected"] == "data.columns"
    used = {c.name: c.width for c in data.preprocessor.inputs.columns}
    assert used.get("v") == expected_width
    assert row["kind"] == kind


def test_override_errors_name_the_column(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("v,w,y\nred,1,0\nblue,2,1\nred,3,0\nblue,4,1\n")
    with pytest.raises(DataError, match=r"row 2, column 'v': expected a number; got text 'red'"):
        prepare_data(DataSpec(path=str(path), target="y", columns={"v": "numeric"}))
    with pytest.raises(DataError, match=r"data.columns sets 'v' to datetime"):
        prepare_data(DataSpec(path=str(path), target="y", columns={"v": "datetime"}))
    with pytest.raises(DataError, match=r"has no column \(data.columns\) 'colour'"):
        prepare_data(DataSpec(path=str(path), target="y", columns={"colour": "categorical"}))


def test_infinity_is_an_error_naming_column_and_count_unless_treated_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_text("a,b,y\n1,inf,0\n2,-inf,1\n3,4,0\n4,5,1\n")
    with pytest.raises(DataError, match=r"column 'b' holds 2 infinite values"):
        prepare_data(DataSpec(path=str(path), target="y"))
    data = prepare_data(DataSpec(path=str(path), target="y", nonfinite="missing", split={"val": 0, "test": 0},
                                 scale="none"))
    assert data.train.x[:, 1].tolist() == [4.5, 4.5, 4.0, 5.0]  # the median of the finite cells


def test_na_values_decide_what_is_missing_and_none_stays_a_category(tmp_path: Path) -> None:
    path = tmp_path / "na.csv"
    path.write_text("c,n,y\nNone,1,0\n?,NA,1\nred,-,0\nNone,3,1\n?,4,0\nblue,5,1\n")
    data = prepare_data(DataSpec(path=str(path), target="y", split={"val": 0, "test": 0}))
    c = data.preprocessor.inputs.columns[0]
    assert c.categories == ["?", "None", "blue", "red"] and c.kind == "categorical"
    with pytest.raises(DataError, match=r"column 'n': expected a number; got text '-'"):
        prepare_data(DataSpec(path=str(path), target="y", columns={"n": "numeric"}))
    custom = prepare_data(DataSpec(path=str(path), target="y", na_values=["None", "?", "-", "NA"],
                                   split={"val": 0, "test": 0}))
    c = custom.preprocessor.inputs.columns[0]
    assert c.categories == ["blue", "red"]
    assert next(r for r in custom.schema if r["column"] == "c")["missing"] == 4
    assert next(r for r in custom.schema if r["column"] == "n")["kind"] == "numeric"


def test_rows_with_a_missing_target_are_dropped_with_a_count(tmp_path: Path, capsys) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,y\n" + "\n".join(f"{i},{'' if i % 10 == 3 else i % 2}" for i in range(40)) + "\n")
    data = prepare_data(DataSpec(path=str(path), target="y"))
    assert len(data.train) + len(data.val) + len(data.test) == 36
    assert "4 of 40 rows" in capsys.readouterr().err
    with pytest.raises(DataError, match=r"row 5: the target is missing \(4 rows in all\)"):
        prepare_data(DataSpec(path=str(path), target="y", missing_target="reject"))
    path.write_text("a,y\n1,\n2,NA\n3,\n")
    with pytest.raises(DataError, match="the target y is missing in every row"):
        prepare_data(DataSpec(path=str(path), target="y"))


@pytest.mark.parametrize("fmt", ["parquet", "feather", "jsonl"])
def test_parquet_feather_and_json_lines_read_like_the_csv(tmp_path: Path, fmt: str) -> None:
    import pyarrow.csv as pacsv

    csv_path = messy_table(tmp_path / "m.csv")
    table = pacsv.read_csv(csv_path)
    path = tmp_path / f"m.{fmt}"
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif fmt == "feather":
        import pyarrow.feather as feather

        feather.write_feather(table, path)
    else:
        path.write_text("\n".join(__import__("json").dumps(r, default=str) for r in table.to_pylist()) + "\n")
    ours = prepare_data(DataSpec(path=str(path), target="label"))
    reference = prepare_data(DataSpec(path=str(csv_path), target="label"))
    assert kinds(ours) == kinds(reference)
    assert np.allclose(ours.train.x.numpy(), reference.train.x.numpy(), atol=1e-5)


def test_a_damaged_parquet_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 100)
    with pytest.raises(DataError, match=r"bad.parquet is not a readable parquet file"):
        prepare_data(DataSpec(path=str(path), target="y"))


def test_40000_rows_with_an_id_a_name_and_a_date_make_few_inputs(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(3)
    n = 40_000
    first = np.array(["Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal"])
    names = np.char.add(np.char.add(first[rng.integers(0, 8, n)], " Smith"), rng.integers(0, 900, n).astype(str))
    x = rng.normal(size=n)
    table = pa.table({"customer_id": np.char.add("C", np.arange(n).astype(str)), "name": names,
                      "signup": (np.datetime64("2015-01-01") + rng.integers(0, 3000, n)).astype(str),
                      "x": x, "colour": rng.choice(["red", "green", "blue"], n), "churn": (x > 0).astype(int)})
    path = tmp_path / "people.csv"
    pacsv.write_csv(table, path)
    data = prepare_data(DataSpec(path=str(path), target="churn"))
    rows = {r["column"]: r for r in data.schema}
    assert rows["customer_id"]["kind"] == "id-like" and rows["customer_id"]["action"] == "left out"
    assert rows["name"]["kind"] == "text" and rows["name"]["action"] == "left out"
    assert rows["signup"]["kind"] == "datetime" and rows["signup"]["action"] == "7 calendar features"
    assert data.input_shape[0] < 50 and data.input_shape == (7 + 1 + 3,)
