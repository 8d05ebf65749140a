"""Additive and scaled dot-product attention: weights are a distribution over real keys; padding changes nothing."""

from __future__ import annotations

import pytest
import torch

from lamina.nn.attend import make_attention
from lamina.nn.layers import build_chain, parse_chain


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_weights_sum_to_one_over_unpadded_keys(kind: str) -> None:
    attend = make_attention(kind, 6, 4)
    query, keys = torch.randn(2, 3, 6), torch.randn(2, 5, 4)  # (B, Q, Dq), (B, T, Dk)
    mask = torch.tensor([[False] * 5, [False, False, True, True, True]])  # second sample: 2 real keys
    context, weights = attend(query, keys, keys, mask)
    assert context.shape == (2, 3, 4) and weights.shape == (2, 3, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    assert torch.all(weights[1, :, 2:] == 0)
    assert torch.allclose(context[1], weights[1, :, :2] @ keys[1, :2])


@pytest.mark.parametrize("mode", ["pool", "self"])
@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_attention_layer_ignores_padding(kind: str, mode: str) -> None:
    body = [{"attention": {"kind": kind, "mode": mode}}] + ([{"seqpool": "mean"}] if mode == "self" else [])
    model, out, _ = build_chain(parse_chain([{"embedding": {"dim": 6, "vocab": 10}}, *body, {"dense": 3}], "t"), (8,))
    ids = torch.randint(1, 10, (2, 5))
    padded = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], dim=1)  # (2, 8) three pads at the end
    assert out == (3,)
    assert torch.allclose(model.eval()(ids), model(padded), atol=1e-5)
