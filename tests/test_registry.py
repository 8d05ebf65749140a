"""The shared registry: lookups, typo hints, listing."""

from __future__ import annotations

import pytest

from lamina.errors import ConfigError
from lamina.registry import DATASETS, LAYERS, Registry


def test_get_unknown_name_lists_choices_and_hint() -> None:
    reg: Registry[int] = Registry("colour")
    reg.add("red", 1, "a colour")
    reg.add("green", 2, "another")
    assert reg.get("red") == 1
    with pytest.raises(ConfigError, match=r"colour must be one of green, red; got 'rde'. Did you mean 'red'\?"):
        reg.get("rde")


def test_duplicate_registration_is_refused() -> None:
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", 2)


def test_builtins_are_registered_with_descriptions() -> None:
    assert {"dense", "conv2d", "residual", "maxpool2d", "layernorm"} <= set(LAYERS.names())
    assert set(DATASETS.names()) >= {"digits", "iris", "wine", "breast_cancer", "diabetes"}
    assert all(entry.doc for entry in LAYERS)
