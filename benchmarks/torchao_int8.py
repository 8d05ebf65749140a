"""int8 on CPU: today's ``torch.ao.quantization`` path against torchao, on the digits models.

PyTorch marks ``torch.ao.quantization`` for removal in favour of torchao. This measures, side by
side in one process and on the same trained models, what each gives on the digits MLP (dense
layers) and CNN (convolutions): weight bytes, batch-1 and batch-256 latency (median), and test
accuracy. Rows:

- float32: the trained model;
- ao dynamic: lamina's dynamic int8 today (``quantize_dynamic``: int8 weights, activations
  quantized on the fly; dense and recurrent layers only);
- ao static: lamina's static int8 today (FX graph mode, calibrated; convolutions too);
- torchao dyn: ``Int8DynamicActivationInt8WeightConfig`` (int8 weights and activations);
- torchao w8: ``Int8WeightOnlyConfig`` (int8 weights, float activations).

    OMP_NUM_THREADS=1 python benchmarks/torchao_int8.py        # needs torchao (not a lamina dependency)
"""

from __future__ import annotations

import copy
import io
import time
import warnings

import torch
from torch import nn


def weight_bytes(model: nn.Module) -> int:
    """Bytes of the model's saved state (torch.save of the state dict, in memory): what a file would hold."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def median_ms(model: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median milliseconds of one forward pass on ``x``, after warm-up."""
    times = []
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1e3


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Test accuracy of ``model`` on ``(x, y)``."""
    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())


def trained(config: dict) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train the config with lamina and return the float model, calibration inputs and the test split."""
    from lamina.config import load_config
    from lamina.data.prepare import prepare_data
    from lamina.trainer import train

    run = train(load_config(config), progress="none")
    data = prepare_data(run.spec.data, run.preprocessor)
    model = run.model.eval().cpu()
    return model, data.train.x[:512].float(), data.test.x.float(), data.test.y


def torchao_copy(model: nn.Module, which: str) -> nn.Module | str:
    """A torchao-quantized copy of ``model``, or the reason it could not be made."""
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_
    except ImportError as exc:
        return f"torchao unavailable: {exc}"
    config = Int8DynamicActivationInt8WeightConfig() if which == "dyn" else Int8WeightOnlyConfig()
    copied = copy.deepcopy(model)
    try:
        quantize_(copied, config)
    except Exception as exc:  # torchao raises many kinds on unsupported layers; the row says why
        return f"{type(exc).__name__}: {str(exc)[:80]}"
    return copied


def main() -> None:
    """Measure every row for both models and print one table."""
    from lamina.compress.quantize import quantize_static
    from lamina.nn.int8 import quantize_dynamic_int8

    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    base = {"seed": 0, "runs_dir": "/tmp/lamina-torchao-bench", "data": {"dataset": "digits", "split":
            {"val": 0.15, "test": 0.2, "seed": 0}}, "train": {"epochs": 15, "diagnose": False}}
    models = {"MLP": {**base, "name": "ao-mlp", "data": {**base["data"], "view": "flat"},
                      "model": {"arch": "mlp", "hidden": [256, 128]}},
              "CNN": {**base, "name": "ao-cnn", "model": {"arch": "cnn"}}}
    print(f"{'model':5} {'variant':13} {'bytes':>9} {'b1 ms':>8} {'b256 ms':>8} {'acc':>7}")
    for label, config in models.items():
        model, calibration, x, y = trained(config)
        variants: dict[str, nn.Module | str] = {"float32": model}
        variants["ao dynamic"] = quantize_dynamic_int8(model)
        variants["ao static"] = quantize_static(copy.deepcopy(model), calibration)
        variants["torchao dyn"] = torchao_copy(model, "dyn")
        variants["torchao w8"] = torchao_copy(model, "w8")
        for name, variant in variants.items():
            if isinstance(variant, str):
                print(f"{label:5} {name:13} {variant}")
                continue
            b1 = median_ms(variant, x[:1], 200)
            b256 = median_ms(variant, x[:256], 30)
            print(f"{label:5} {name:13} {weight_bytes(variant):9,d} {b1:8.3f} {b256:8.3f} {accuracy(variant, x, y):7.4f}")


if __name__ == "__main__":
    main()
