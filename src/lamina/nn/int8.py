"""Int8 models (dynamic, static post-training, quantization-aware) and their pickle-free file format.

:func:`quantize_dynamic_int8` turns the linear (and recurrent) layers of a
float model into torch's dynamically quantized ones: int8 weights, activations
quantized on the fly, about 4x smaller. :func:`prepare_static_int8` and
:func:`convert_static_int8` are the two halves of static int8 (torch FX graph
mode: batchnorm folded into the preceding conv, observers or fake quantizers
inserted, then int8 kernels for weights and activations); calibration or
quantization-aware training happens between them (see ``lamina.compress``).

Quantized tensors cannot go into safetensors, so :func:`int8_tensors` stores
each quantized weight as its int8 values plus its scale(s), zero point(s) and
(per channel) axis, and each static layer's output scale and zero point, under
a ``format`` marker in the file's metadata; :func:`load_int8` rebuilds the
quantized model from the float model that config.yaml describes and those
tensors, exactly (no re-rounding, no calibration data needed).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from lamina.errors import ConfigError, LaminaError, RunFolderError

INT8_FORMAT = "lamina-int8-dynamic-1"
INT8_STATIC_FORMAT = "lamina-int8-static-1"
INT8_FORMATS = (INT8_FORMAT, INT8_STATIC_FORMAT)
QUANTIZED_BACKEND = "x86"
# What a quantized layer's state dict holds that int8_tensors stores in its own form.
_LAYER_STATE = {"weight", "bias", "scale", "zero_point", "_packed_params.dtype", "_packed_params._packed_params"}


@contextmanager
def quiet_quantization() -> Iterator[None]:
    """Silence torch's deprecation notices for torch.ao quantization (it still works in torch 2.x)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantiz", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*reduce_range", category=UserWarning)
        yield


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (CPU, eval) whose Linear, LSTM and GRU layers hold int8 weights."""
    import copy

    float_model = copy.deepcopy(model).to("cpu").eval()
    with quiet_quantization():
        import torch.ao.quantization as quantization

        return quantization.quantize_dynamic(float_model, {nn.Linear, nn.LSTM, nn.GRU}, dtype=torch.qint8)


def prepare_static_int8(model: nn.Module, example: torch.Tensor, qat: bool = False) -> nn.Module:
    """A traced copy of ``model`` (CPU) with observers (``qat``: fake quantizers) around every int8-able op.

    Calibrate it by running inputs through it in eval mode, or (``qat``) fine-tune it in train mode, then
    call :func:`convert_static_int8`. A model torch FX cannot trace is refused with a ConfigError.
    """
    import copy

    float_model = copy.deepcopy(model).to("cpu")
    float_model.train(qat)
    with quiet_quantization():
        from torch.ao.quantization import get_default_qat_qconfig_mapping, get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import prepare_fx, prepare_qat_fx

        try:
            if qat:
                return prepare_qat_fx(float_model, get_default_qat_qconfig_mapping(QUANTIZED_BACKEND), (example,))
            return prepare_fx(float_model, get_default_qconfig_mapping(QUANTIZED_BACKEND), (example,))
        except Exception as exc:  # noqa: BLE001 - FX tracing fails in many ways; all mean "not this model"
            raise ConfigError(f"static int8 needs a model torch FX can trace; this one fails with "
                              f"{type(exc).__name__}: {exc}. Use quantize 'dynamic' for it") from None


def convert_static_int8(prepared: nn.Module) -> nn.Module:
    """The int8 model (CPU, eval) from a calibrated or quantization-aware-trained prepared model."""
    with quiet_quantization():
        from torch.ao.quantization.quantize_fx import convert_fx

        return convert_fx(prepared.to("cpu").eval()).eval()


def _is_quantized(module: nn.Module) -> bool:
    return ".quantized" in type(module).__module__


def _quantizes_output(module: nn.Module) -> bool:
    """Whether a quantized layer has its own output scale and zero point (static layers; dynamic ones do not)."""
    return "scale" in module.state_dict() and ".dynamic" not in type(module).__module__


def _modules(qmodel: nn.Module) -> list[tuple[str, nn.Module]]:
    """Named modules, without the internals (packed parameters) of quantized layers."""
    out: list[tuple[str, nn.Module]] = []
    inside: list[str] = []
    for name, module in qmodel.named_modules():
        if any(name.startswith(f"{q}.") for q in inside):
            continue
        if _is_quantized(module):
            inside.append(name)
        out.append((name, module))
    return out


def _weight_tensors(weight: torch.Tensor, key: str) -> dict[str, torch.Tensor]:
    """A quantized weight as int8 values, scale(s), zero point(s) and, per channel, the channel axis."""
    if weight.qscheme() == torch.per_tensor_affine:
        return {f"{key}.int8": weight.int_repr(), f"{key}.scale": torch.tensor(weight.q_scale(), dtype=torch.float64),
                f"{key}.zero_point": torch.tensor(weight.q_zero_point(), dtype=torch.int64)}
    if weight.qscheme() == torch.per_channel_affine:
        scales = weight.q_per_channel_scales().double()
        if torch.equal(scales.float().double(), scales):  # observers compute float32 scales: store them so, exactly
            scales = scales.float()
        return {f"{key}.int8": weight.int_repr(), f"{key}.scale": scales,
                f"{key}.zero_point": weight.q_per_channel_zero_points().to(torch.int8),  # qint8 range
                f"{key}.axis": torch.tensor(weight.q_per_channel_axis(), dtype=torch.int64)}
    raise LaminaError(f"weight {key} uses {weight.qscheme()}; only affine int8 weights (per tensor or channel) can be saved")


def int8_tensors(qmodel: nn.Module) -> dict[str, torch.Tensor]:
    """Plain tensors for a quantized model: int8 weights with their quantization, output scales, float rest."""
    out: dict[str, torch.Tensor] = {}
    for name, module in _modules(qmodel):
        prefix = f"{name}." if name else ""
        if _is_quantized(module):
            unknown = sorted(set(module.state_dict()) - _LAYER_STATE)
            if unknown:
                raise LaminaError(f"layer {name} ({type(module).__name__}) holds {unknown[0]}, which has no saved form yet")
            if callable(getattr(module, "weight", None)):
                out.update(_weight_tensors(module.weight(), prefix + "weight"))
                if module.bias() is not None:
                    out[prefix + "bias"] = module.bias().detach()
            if _quantizes_output(module):
                out[prefix + "scale"] = torch.tensor(float(module.scale), dtype=torch.float64)
                out[prefix + "zero_point"] = torch.tensor(int(module.zero_point), dtype=torch.int64)
        else:
            for key, tensor in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
                out[prefix + key] = tensor.detach()
    return out


def int8_format(path: Path) -> str | None:
    """The int8 format a safetensors file holds (by its metadata marker), or None for float weights."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            found = (handle.metadata() or {}).get("format")
    except Exception:  # noqa: BLE001 - unreadable files are reported by the normal loader
        return None
    return found if found in INT8_FORMATS else None


def _skeleton(float_model: nn.Module, fmt: str, input_shape: tuple[int, ...]) -> nn.Module:
    """The quantized architecture for ``fmt``, with placeholder quantization that loading then overwrites."""
    if fmt == INT8_FORMAT:
        return quantize_dynamic_int8(float_model)
    example = torch.randn((2, *input_shape), generator=torch.Generator().manual_seed(0))
    prepared = prepare_static_int8(float_model.eval(), example)
    with torch.inference_mode():
        prepared(example)
    return convert_static_int8(prepared)


def load_int8(float_model: nn.Module, tensors: dict[str, torch.Tensor], where: str, fmt: str = INT8_FORMAT,
              input_shape: tuple[int, ...] = ()) -> nn.Module:
    """Rebuild the quantized model: its int8 architecture from the float one, then every saved tensor exactly.

    ``fmt`` is the file's format marker; static int8 also needs the model's ``input_shape`` to trace it.
    """
    qmodel = _skeleton(float_model, fmt, input_shape)
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        if key not in tensors:
            raise RunFolderError(f"{where} is missing '{key}' for config.yaml's model")
        used.add(key)
        return tensors[key]

    def weight(key: str, expected: torch.Tensor) -> torch.Tensor:
        ints = take(f"{key}.int8")
        if ints.shape != expected.shape:
            raise RunFolderError(f"{where}: '{key}.int8' has shape {tuple(ints.shape)}; "
                                 f"the model needs {tuple(expected.shape)}")
        scale, zero = take(f"{key}.scale").double(), take(f"{key}.zero_point").long()
        with quiet_quantization():
            if expected.qscheme() == torch.per_tensor_affine:
                values = ((ints.double() - int(zero)) * float(scale)).float()
                return torch.quantize_per_tensor(values, float(scale), int(zero), torch.qint8)
            axis = int(take(f"{key}.axis"))
            view = [-1 if d == axis else 1 for d in range(ints.dim())]
            values = ((ints.double() - zero.view(view)) * scale.view(view)).float()
            return torch.quantize_per_channel(values, scale, zero, axis, torch.qint8)

    for name, module in _modules(qmodel):
        prefix = f"{name}." if name else ""
        if _is_quantized(module):
            if callable(getattr(module, "weight", None)):
                bias = take(prefix + "bias") if module.bias() is not None else None
                module.set_weight_bias(weight(prefix + "weight", module.weight()), bias)
            if _quantizes_output(module):
                module.scale = float(take(prefix + "scale"))
                module.zero_point = int(take(prefix + "zero_point"))
        else:
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
