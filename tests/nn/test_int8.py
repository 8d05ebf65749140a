"""The int8 file format: static (per-channel) int8 models round-trip exactly through plain tensors, and a
model torch FX cannot trace is refused with a message that names the way out."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lamina.errors import ConfigError, RunFolderError
from lamina.nn.int8 import INT8_STATIC_FORMAT, convert_static_int8, int8_tensors, load_int8, prepare_static_int8


def _conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 5)).eval()


def _static(model: nn.Module, x: torch.Tensor) -> nn.Module:
    prepared = prepare_static_int8(model, x[:2])
    with torch.inference_mode():
        prepared(x)
    return convert_static_int8(prepared)


def test_static_int8_round_trips_exactly_through_plain_tensors() -> None:
    x = torch.randn(64, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    qmodel = _static(_conv_net(), x)
    tensors = int8_tensors(qmodel)
    assert all(not t.is_quantized for t in tensors.values())
    assert tensors["0.weight.int8"].dtype == torch.int8 and tensors["0.weight.scale"].shape == (4,)  # per channel
    rebuilt = load_int8(_conv_net(), tensors, "test.safetensors", INT8_STATIC_FORMAT, (1, 6, 6))
    with torch.inference_mode():
        assert torch.equal(rebuilt(x), qmodel(x))
    del tensors["0.weight.axis"]
    with pytest.raises(RunFolderError, match="missing '0.weight.axis'"):
        load_int8(_conv_net(), tensors, "test.safetensors", INT8_STATIC_FORMAT, (1, 6, 6))


class _Branchy(nn.Module):
    """Control flow on values: FX cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) if x.sum() > 0 else -self.linear(x)


def test_an_untraceable_model_is_refused_pointing_at_dynamic_int8() -> None:
    with pytest.raises(ConfigError, match="quantize 'dynamic'"):
        prepare_static_int8(_Branchy(), torch.zeros(2, 3))
