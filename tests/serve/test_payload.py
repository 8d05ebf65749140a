"""Request instances to model inputs: the fast path for well-formed arrays agrees with the checked path,
and every bad value is refused naming its place in the body."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.data.preprocess import InputPrep
from lamina.serve.payload import PayloadError, array_inputs, plain_batch

PREP = InputPrep(kind="array", shape=[1, 2, 2], feature_names=["a", "b", "c", "d"], fill=[0.0] * 4,
                 offset=[0.0] * 4, divisor=[1.0] * 4)


def test_nested_flat_and_record_instances_give_the_same_rows() -> None:
    rows = array_inputs([[[[1, 2.5], [3, 4]]], [1, 2.5, 3, 4], {"a": 1, "b": 2.5, "c": 3, "d": 4}], PREP)
    np.testing.assert_array_equal(rows, np.array([[1, 2.5, 3, 4]] * 3))


@pytest.mark.parametrize("instance, where", [
    ([1, 2, True, 4], "instances[0][2]"),             # a boolean is not a number
    ([1, 2, "3", 4], "instances[0][2]"),              # nor is a numeric string
    ([1, 2, float("nan"), 4], "instances[0][2]"),
    ([1, 2, 3, 10 ** 400], "instances[0][3]"),         # beyond float range
    ([1, 2, 3], "instances[0]"),                      # wrong shape
    ([[1, 2], [3]], "instances[0]"),                  # ragged
])
def test_bad_values_are_refused_naming_their_place(instance: list, where: str) -> None:
    with pytest.raises(PayloadError) as caught:
        array_inputs([instance], PREP)
    assert where in str(caught.value)
    assert caught.value.loc[:2] == ["body", "instances"]



def test_the_one_conversion_fast_path_takes_only_well_formed_number_lists() -> None:
    nested, flat = [[[1, 2.5], [3, 4]]], [1, 2.5, 3, 4]
    expected = np.array([nested] * 2)  # (2, 1, 2, 2)
    np.testing.assert_array_equal(plain_batch([nested, nested], (1, 2, 2)), expected)
    np.testing.assert_array_equal(plain_batch([flat, flat], (1, 2, 2)), expected)
    assert plain_batch([nested, flat], (1, 2, 2)) is None  # mixed layouts: the checked path takes them
    for bad in ([1, 2, True, 4], [1, 2, "3", 4], [1, 2, None, 4], [1, 2, 3, 10 ** 400], [1, 2, 3], [[1, 2], [3]],
                [[[[[[1, 2, 3, 4]]]]]], {"a": 1, "b": 2, "c": 3, "d": 4}):
        assert plain_batch([flat, bad], (1, 2, 2)) is None, bad


@pytest.mark.parametrize("bad, where", [(True, "[1][2]"), ("3", "[1][2]"), (float("nan"), "[1][2]"),
                                        (float("inf"), "[1][2]"), (10 ** 400, "[1][2]")])
def test_a_bad_value_in_an_otherwise_plain_batch_is_still_named_by_row_and_column(bad, where: str) -> None:
    with pytest.raises(PayloadError) as caught:
        array_inputs([[1, 2, 3, 4], [1, 2, bad, 4]], PREP)
    assert f"instances{where}" in str(caught.value)
    assert caught.value.loc == ["body", "instances", 1, 2]
