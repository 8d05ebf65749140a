"""Self-attention on scaled_dot_product_attention computes what nn.MultiheadAttention computes, masks included."""

from __future__ import annotations

import torch
from torch import nn

from lamina.nn.attention import SelfAttention, causal_mask


def _pair(causal: bool) -> tuple[SelfAttention, nn.MultiheadAttention]:
    torch.manual_seed(0)
    ours = SelfAttention(16, 4, 0.0, causal).eval()
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    return ours, reference


def test_same_weights_and_outputs_as_multihead_attention() -> None:
    for causal in (False, True):
        ours, reference = _pair(causal)
        assert ours.attn.state_dict().keys() == reference.state_dict().keys()  # old run folders load
        for name, tensor in reference.state_dict().items():
            assert torch.equal(ours.attn.state_dict()[name], tensor)  # same seed, same initialization
        x = torch.randn(3, 7, 16)
        padding = torch.zeros(3, 7, dtype=torch.bool)
        padding[1, 5:] = True  # the second sequence is 5 steps long
        future = causal_mask(7) if causal else None
        for mask in (None, padding):
            expected, _ = reference(x, x, x, key_padding_mask=mask, attn_mask=future, need_weights=False)
            assert torch.allclose(ours(x, mask), expected, atol=1e-5), (causal, mask is not None)


def test_under_cpu_bf16_autocast_attention_hands_back_bf16_close_to_float32() -> None:
    ours, _ = _pair(causal=True)
    x = torch.randn(2, 9, 16, requires_grad=True)
    padding = torch.zeros(2, 9, dtype=torch.bool)
    padding[0, 6:] = True
    for mask in (None, padding):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = ours(x, mask)
        assert low.dtype == torch.bfloat16  # what the next autocast layer expects
        assert torch.allclose(low.float(), ours(x, mask), atol=0.03)  # bf16 rounding of the projections only
        low.float().sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        x.grad = None
