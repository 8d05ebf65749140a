"""Dynamic int8 models and their pickle-free file format.

:func:`quantize_dynamic_int8` turns the linear (and recurrent) layers of a
float model into torch's dynamically quantized ones: int8 weights, activations
quantized on the fly, about 4x smaller. Quantized tensors cannot go into
safetensors, so :func:`int8_tensors` stores each quantized weight as its int8
values plus its scale and zero point, under a ``format`` marker in the file's
metadata; :func:`load_int8` rebuilds the quantized model from the float model
that config.yaml describes and those tensors, exactly (no re-rounding).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from lamina.errors import LaminaError, RunFolderError

INT8_FORMAT = "lamina-int8-dynamic-1"


@contextmanager
def quiet_quantization() -> Iterator[None]:
    """Silence torch's deprecation notices for torch.ao quantization (it still works in torch 2.x)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantiz", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*reduce_range", category=UserWarning)
        yield


def _dynamic_linear() -> type:
    from torch.ao.nn.quantized.dynamic import Linear

    return Linear


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (CPU, eval) whose Linear, LSTM and GRU layers hold int8 weights."""
    import copy

    float_model = copy.deepcopy(model).to("cpu").eval()
    with quiet_quantization():
        import torch.ao.quantization as quantization

        return quantization.quantize_dynamic(float_model, {nn.Linear, nn.LSTM, nn.GRU}, dtype=torch.qint8)


def int8_tensors(qmodel: nn.Module) -> dict[str, torch.Tensor]:
    """Plain tensors for a dynamically quantized model: int8 weights with scale and zero point, float rest."""
    linear = _dynamic_linear()
    out: dict[str, torch.Tensor] = {}
    for name, module in _modules(qmodel):
        prefix = f"{name}." if name else ""
        if isinstance(module, linear):
            weight = module.weight()
            if weight.qscheme() != torch.per_tensor_affine:
                raise LaminaError(f"layer {name} uses {weight.qscheme()}; only per-tensor int8 weights can be saved")
            out[prefix + "weight.int8"] = weight.int_repr()
            out[prefix + "weight.scale"] = torch.tensor(weight.q_scale(), dtype=torch.float64)
            out[prefix + "weight.zero_point"] = torch.tensor(weight.q_zero_point(), dtype=torch.int64)
            if module.bias() is not None:
                out[prefix + "bias"] = module.bias().detach()
        elif type(module).__module__.startswith("torch.ao.nn.quantized"):
            raise LaminaError(f"layer {name} ({type(module).__name__}) is quantized but has no saved form yet")
        else:
            for key, tensor in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
                out[prefix + key] = tensor.detach()
    return out


def _modules(qmodel: nn.Module) -> list[tuple[str, nn.Module]]:
    """Named modules, without the internals (packed parameters) of quantized layers."""
    out: list[tuple[str, nn.Module]] = []
    inside: list[str] = []
    for name, module in qmodel.named_modules():
        if any(name.startswith(f"{q}.") for q in inside):
            continue
        if type(module).__module__.startswith("torch.ao.nn.quantized"):
            inside.append(name)
        out.append((name, module))
    return out


def is_int8_file(path: Path) -> bool:
    """Whether a safetensors file holds dynamic int8 weights (by its metadata marker)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("format") == INT8_FORMAT
    except Exception:  # noqa: BLE001 - unreadable files are reported by the normal loader
        return False


def load_int8(float_model: nn.Module, tensors: dict[str, torch.Tensor], where: str) -> nn.Module:
    """Rebuild the quantized model: quantize the float architecture, then set every saved tensor exactly."""
    qmodel = quantize_dynamic_int8(float_model)
    linear = _dynamic_linear()
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        if key not in tensors:
            raise RunFolderError(f"{where} is missing '{key}' for config.yaml's model")
        used.add(key)
        return tensors[key]

    for name, module in _modules(qmodel):
        prefix = f"{name}." if name else ""
        if isinstance(module, linear):
            ints = take(prefix + "weight.int8")
            scale, zero = float(take(prefix + "weight.scale")), int(take(prefix + "weight.zero_point"))
            expected = module.weight().shape
            if ints.shape != expected:
                raise RunFolderError(f"{where}: '{prefix}weight.int8' has shape {tuple(ints.shape)}; "
                                     f"the model needs {tuple(expected)}")
            bias = take(prefix + "bias") if module.bias() is not None else None
            with quiet_quantization():
                weight = torch.quantize_per_tensor(((ints.double() - zero) * scale).float(), scale, zero, torch.qint8)
                module.set_weight_bias(weight, bias)
        elif not type(module).__module__.startswith("torch.ao.nn.quantized"):
            for key, tensor in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
                value = take(prefix + key)
                if value.shape != tensor.shape:
                    raise RunFolderError(f"{where}: '{prefix}{key}' has shape {tuple(value.shape)}; "
                                         f"the model needs {tuple(tensor.shape)}")
                with torch.no_grad():
                    tensor.copy_(value)
    extra = sorted(set(tensors) - used)
    if extra:
        raise RunFolderError(f"{where} does not match config.yaml's model: unexpected {extra[:3]}")
    return qmodel.eval()
