"""Request instances to model inputs: the fast path for well-formed arrays agrees with the checked path,
and every bad value is refused naming its place in the body."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.data.preprocess import InputPrep
from lamina.serve.payload import PayloadError, array_inputs

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
