"""Static int8 quantization: post-training with calibration, or quantization-aware training (QAT).

Dynamic int8 (:mod:`lamina.nn.int8`) quantizes only weights and suits dense
and recurrent layers. Conv nets gain from quantizing activations too, which
needs their ranges: :func:`quantize_static` traces the chain (torch FX graph
mode, which also folds batchnorm into the preceding conv), runs calibration
batches through observers that record each activation's range, and converts
to int8 kernels. :func:`quantize_aware` instead inserts fake quantization
before fine-tuning, so the weights learn to live with int8 rounding, and then
converts. Both return CPU models in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lamina.errors import ConfigError
from lamina.nn.int8 import convert_static_int8, prepare_static_int8


def _example(x: torch.Tensor) -> torch.Tensor:
    return x[:2].float().cpu()


def quantize_static(model: nn.Module, calibration: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """An int8 copy of ``model`` (weights and activations), calibrated on the inputs ``calibration``."""
    if len(calibration) == 0:
        raise ConfigError("static quantization needs calibration inputs; got an empty tensor")
    prepared = prepare_static_int8(model.eval(), _example(calibration))
    with torch.inference_mode():
        for start in range(0, len(calibration), batch_size):
            prepared(calibration[start:start + batch_size].float().cpu())
    return convert_static_int8(prepared)


def quantize_aware(model: nn.Module, calibration: torch.Tensor, train: Callable[[nn.Module], None]) -> nn.Module:
    """Quantization-aware training: fake-quantize ``model``, let ``train`` fine-tune it, convert to int8.

    ``train`` gets the prepared (fake-quantized, float) model and trains it in place, e.g. with
    :func:`lamina.train.loop.fit`; ``calibration`` supplies example inputs for tracing.
    """
    if len(calibration) == 0:
        raise ConfigError("quantization-aware training needs example inputs; got an empty tensor")
    prepared = prepare_static_int8(model, _example(calibration), qat=True)
    train(prepared)
    return convert_static_int8(prepared)


def weight_bytes(model: nn.Module) -> int:
    """Bytes of the weights and biases a (possibly quantized) model holds: int8 weights count one byte each."""
    total = 0
    for key, value in model.state_dict().items():
        if isinstance(value, torch.Tensor) and (key.endswith("weight") or key.endswith("bias")):
            total += value.numel() * value.element_size()
        elif isinstance(value, tuple):  # packed params of quantized linear layers: (weight, bias)
            total += sum(t.numel() * t.element_size() for t in value if isinstance(t, torch.Tensor))
    return total
