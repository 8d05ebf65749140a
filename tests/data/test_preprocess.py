"""The table input array is assembled slab by slab: every encoding lands in the right row and column, across slabs."""

from __future__ import annotations

import numpy as np

from lamina.data.preprocess import ASSEMBLE_ROWS, Column, InputPrep


def test_assembled_inputs_match_each_encoding_across_slab_boundaries() -> None:
    rng = np.random.default_rng(0)
    n = 2 * ASSEMBLE_ROWS + 123  # three slabs, the last one partial
    columns = [Column("a", "numeric"), Column("when", "datetime", parts=["year", "month_sin"]),
               Column("colour", "categorical", categories=["blue", "red"]),
               Column("city", "categorical", categories=["x", "y"], other=True),
               Column("shop", "category_index", categories=["p", "q", "r"])]
    prep = InputPrep("table", [1 + 2 + 2 + 3 + 1], columns=columns)
    numeric = rng.normal(size=(n, 1)).astype(np.float32)
    dates = rng.normal(size=(n, 2)).astype(np.float32)
    colour = rng.integers(-1, 2, n).astype(np.int32)  # -1: unseen or missing, all zeros
    city = rng.integers(-1, 2, n).astype(np.int32)  # -1: unseen, the "other" input
    shop = rng.integers(-1, 3, n).astype(np.int32)
    x = prep.assemble([numeric, dates, colour, city, shop])
    assert x.shape == (n, 9) and x.dtype == np.float32
    assert np.array_equal(x[:, :1], numeric) and np.array_equal(x[:, 1:3], dates)
    expected_colour = np.zeros((n, 2), np.float32)
    expected_colour[colour >= 0, colour[colour >= 0]] = 1.0
    assert np.array_equal(x[:, 3:5], expected_colour)
    assert np.array_equal(x[:, 5:8], np.eye(3, dtype=np.float32)[np.where(city < 0, 2, city)])
    assert np.array_equal(x[:, 8], shop + 1.0)
