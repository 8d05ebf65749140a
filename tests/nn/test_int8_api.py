"""The torch quantization API lamina's int8 path stands on is still there (issue 23, item 8).

PyTorch's documentation marks ``torch.ao.quantization`` for removal in favour of torchao.
``benchmarks/torchao_int8.py`` measured torchao 0.18 against it on this machine's CPU and the
old path stays (README, "Compression"): torchao's int8 quantizes only linear layers and ran
slower at batch 1 and 256. When a torch upgrade removes a piece, this test names it, instead
of compression failing somewhere deep with an AttributeError.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from lamina.nn.int8 import QUANTIZED_BACKEND

USED = [("torch.ao.quantization", "quantize_dynamic"),
        ("torch.ao.quantization", "get_default_qconfig_mapping"),
        ("torch.ao.quantization", "get_default_qat_qconfig_mapping"),
        ("torch.ao.quantization.quantize_fx", "prepare_fx"),
        ("torch.ao.quantization.quantize_fx", "prepare_qat_fx"),
        ("torch.ao.quantization.quantize_fx", "convert_fx")]


@pytest.mark.parametrize("module, name", USED, ids=[f"{m}.{n}" for m, n in USED])
def test_the_quantization_functions_lamina_calls_exist(module: str, name: str) -> None:
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        found = None
    assert callable(found), (f"torch {torch.__version__} no longer has {module}.{name}, which lamina's int8 "
                             "compression uses: port src/lamina/nn/int8.py to torchao (benchmarks/torchao_int8.py "
                             "compares the two)")


def test_the_int8_kernels_lamina_targets_are_built_in() -> None:
    assert QUANTIZED_BACKEND in torch.backends.quantized.supported_engines, (
        f"torch {torch.__version__} lacks the {QUANTIZED_BACKEND} int8 engine "
        f"(has {torch.backends.quantized.supported_engines})")
