"""Vision transformer preset: patches become tokens (its 93% on digits: tests/e2e/test_examples.py)."""

from __future__ import annotations

import pytest

from lamina.config import parse_run_spec
from lamina.errors import ShapeError
from lamina.nn.build import build_model


@pytest.mark.parametrize(("pool", "tokens"), [("cls", 17), ("mean", 16)])
def test_each_patch_is_a_token(pool: str, tokens: int) -> None:
    spec = parse_run_spec({"data": {"dataset": "digits", "view": "image"},
                           "model": {"arch": "vit", "dim": 16, "depth": 1, "heads": 2, "pool": pool}})
    rows = build_model(spec.model, (1, 8, 8), 10).rows
    assert rows[0].name == "patch_embedding" and rows[0].output_shape == (16, 16)  # (8/2)^2 patches of width 16
    assert next(r for r in rows if r.name == "transformer_block").output_shape == (tokens, 16)
    assert rows[-1].output_shape == (10,)


def test_patch_must_divide_the_image() -> None:
    spec = parse_run_spec({"data": {"dataset": "digits", "view": "image"}, "model": {"arch": "vit", "patch": 3}})
    with pytest.raises(ShapeError, match="patch 3 must divide the image size 8x8"):
        build_model(spec.model, (1, 8, 8), 10)
