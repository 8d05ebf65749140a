"""The synthetic shapes set: deterministic, masks aligned with what is drawn, every class present."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.data.shapes import SHAPE_CLASSES, make_shapes
from lamina.errors import ConfigError


def test_shapes_are_deterministic_and_labelled():
    images, masks = make_shapes(50, 24, seed=3)
    again, masks_again = make_shapes(50, 24, seed=3)
    assert images.shape == (50, 1, 24, 24) and masks.shape == (50, 24, 24)
    assert np.array_equal(images, again) and np.array_equal(masks, masks_again)
    assert set(np.unique(masks)) == set(range(len(SHAPE_CLASSES)))
    assert images[:, 0][masks > 0].mean() > images[:, 0][masks == 0].mean() + 0.3  # shapes are drawn where labelled
    assert not np.array_equal(make_shapes(5, 24, seed=4)[1], masks[:5])


def test_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="size >= 8"):
        make_shapes(4, size=4)
