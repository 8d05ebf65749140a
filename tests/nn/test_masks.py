"""Masks: padding never changes a sequence's output, and a causal block never sees the future."""

from __future__ import annotations

import pytest
import torch

from lamina.nn.layers import build_chain, parse_chain


@pytest.mark.parametrize("body", [[{"lstm": 6}], [{"gru": {"units": 6, "bidirectional": True}}],
                                  [{"positional": "sinusoidal"}, {"transformer_block": {"heads": 2, "dropout": 0.0}},
                                   {"seqpool": "mean"}]])
def test_padding_does_not_change_the_prediction(body: list) -> None:
    chain = [{"embedding": {"dim": 4, "vocab": 10}}, *body, {"dense": 3}]
    model, _, _ = build_chain(parse_chain(chain, "t"), (8,))
    model.eval()
    ids = torch.randint(1, 10, (1, 5))  # (1, 5) a sequence of five tokens
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)  # (1, 8) three pads at the end
    assert torch.allclose(model(ids), model(padded), atol=1e-5)


def test_causal_block_never_sees_the_future() -> None:
    chain = [{"transformer_block": {"heads": 2, "dropout": 0.0, "causal": True}}]
    model, _, _ = build_chain(parse_chain(chain, "t"), (6, 4))
    model.eval()
    x = torch.randn(1, 6, 4)  # (B, T, C)
    changed = x.clone()
    changed[:, 4:] = torch.randn(1, 2, 4)  # alter only steps 4 and 5
    out, out2 = model(x), model(changed)
    assert torch.allclose(out[:, :4], out2[:, :4], atol=1e-6)
    assert not torch.allclose(out[:, 4:], out2[:, 4:])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "transformer"])
def test_padding_does_not_change_a_sequence_preset_prediction(cell: str) -> None:
    from lamina.config import ModelSpec
    from lamina.nn.build import build_model

    spec = ModelSpec(arch="sequence", cell=cell, units=8, embed_dim=4, heads=2, depth=2, bidirectional=cell == "gru")
    model = build_model(spec, (12,), 3, vocab=20).model.eval()
    torch.manual_seed(1)
    ids = torch.randint(1, 20, (4, 7))  # (B, 7) four sequences of seven tokens
    padded = torch.cat([ids, torch.zeros(4, 5, dtype=torch.long)], dim=1)  # (B, 12) five pads at the end
    assert torch.allclose(model(ids), model(padded), atol=1e-5)
    shuffled = torch.cat([ids[:, :6], torch.randint(1, 20, (4, 1))], dim=1)  # a changed last token does matter
    assert not torch.allclose(model(ids), model(shuffled), atol=1e-5)
