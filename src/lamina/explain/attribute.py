"""Attributions through captum: saliency, integrated gradients (with a completeness check),
Grad-CAM on a conv layer, and SHAP (GradientShap for networks, KernelShap for tabular inputs).

Every method takes a model, a batch ``x`` of preprocessed inputs ``(B, *input_shape)``
and per-sample target indices, and returns attributions shaped like ``x``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lamina.errors import ConfigError, one_of

METHODS = ("saliency", "integrated_gradients", "gradcam", "gradient_shap", "kernel_shap")


def targets_for(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output index to explain per sample: the predicted class (or output 0 for one-output models)."""
    with torch.no_grad():
        out = model(x)
    if out.shape[1] == 1:
        return torch.zeros(len(x), dtype=torch.long)
    return out.argmax(dim=1)


def saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Absolute input gradient of the target output (Simonyan et al.)."""
    from captum.attr import Saliency

    return Saliency(model).attribute(x, target=target).detach()


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor | None = None,
                         steps: int = 100) -> tuple[torch.Tensor, dict[str, Any]]:
    """Integrated gradients from ``baseline`` (zeros: the training mean after standardization) to ``x``.

    Also returns the completeness check: per sample, the attributions should sum
    to f(x) - f(baseline); ``relative_error`` is the summed gap over the summed |difference|.
    """
    from captum.attr import IntegratedGradients

    baseline = torch.zeros_like(x) if baseline is None else baseline
    attr = IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=steps,
                                                method="gausslegendre").detach()
    with torch.no_grad():
        pick = target.view(-1, 1)
        delta = (model(x).gather(1, pick) - model(baseline).gather(1, pick)).view(-1)  # (B,)
    sums = attr.reshape(len(x), -1).sum(dim=1)
    gap = (sums - delta).abs()
    return attr, {"attribution_sums": sums.tolist(), "output_differences": delta.tolist(),
                  "relative_error": float(gap.sum() / delta.abs().sum().clamp_min(1e-12)),
                  "max_sample_error": float((gap / delta.abs().clamp_min(1e-6)).max()), "steps": steps}


def conv_layer(model: nn.Module, name: str | None = None) -> tuple[str, nn.Module]:
    """The conv layer called ``name``; by default the last conv layer's block output.

    The block output is the activation that follows the last conv (after its
    batchnorm, if any), the feature maps Grad-CAM is defined on; the conv itself
    when no activation follows.
    """
    named = list(model.named_modules())
    convs = [i for i, (_, m) in enumerate(named) if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    if not convs:
        raise ConfigError("Grad-CAM needs a model with a conv layer; this model has none (use saliency or "
                          "integrated_gradients)")
    if name is not None:
        found = dict(named)
        if name not in found or not list(found[name].parameters()) and not _is_activation(found[name]):
            raise ConfigError(one_of("layer", name, [named[i][0] for i in convs]))
        return name, found[name]
    last = convs[-1]
    for follower, module in named[last + 1 : last + 4]:
        if _is_activation(module):
            return follower, module
    return named[last]


def _is_activation(module: nn.Module) -> bool:
    return isinstance(module, (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Tanh, nn.Sigmoid))


def gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """Grad-CAM on a conv layer, upsampled to the input's size: (B, 1, H, W) for images, (B, 1, L) for sequences."""
    from captum.attr import LayerAttribution, LayerGradCam

    _, module = conv_layer(model, layer)
    cam = LayerGradCam(model, module).attribute(x, target=target, relu_attributions=True).detach()
    return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear" if x.dim() == 4 else "linear")


def gradient_shap(model: nn.Module, x: torch.Tensor, target: torch.Tensor, background: torch.Tensor,
                  samples: int = 32) -> torch.Tensor:
    """GradientShap: expected gradients against a background sample of training inputs."""
    from captum.attr import GradientShap

    return GradientShap(model).attribute(x, baselines=background, target=target, n_samples=samples,
                                         stdevs=0.0).detach()


def kernel_shap(model: nn.Module, x: torch.Tensor, target: torch.Tensor, background: torch.Tensor,
                samples: int = 200) -> torch.Tensor:
    """KernelShap for flat (tabular) inputs, one sample at a time, against the background mean."""
    from captum.attr import KernelShap

    if x.dim() != 2:
        raise ConfigError("kernel_shap is for tabular (flat) inputs; use gradient_shap for images and sequences")
    explainer = KernelShap(model)
    base = background.mean(dim=0, keepdim=True)
    rows = [explainer.attribute(x[i : i + 1], baselines=base, target=int(target[i]), n_samples=samples).detach()
            for i in range(len(x))]
    return torch.cat(rows)


def attribute(method: str, model: nn.Module, x: torch.Tensor, background: torch.Tensor,
              layer: str | None = None) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Attributions of ``method`` for batch ``x``: (targets, attributions, extra facts such as the IG check)."""
    if method not in METHODS:
        raise ConfigError(one_of("method", method, METHODS))
    model.eval()
    x = x.detach().requires_grad_(False)
    target = targets_for(model, x)
    runners: dict[str, Callable[[], Any]] = {
        "saliency": lambda: saliency(model, x, target),
        "integrated_gradients": lambda: integrated_gradients(model, x, target),
        "gradcam": lambda: gradcam(model, x, target, layer),
        "gradient_shap": lambda: gradient_shap(model, x, target, background),
        "kernel_shap": lambda: kernel_shap(model, x, target, background),
    }
    result = runners[method]()
    if isinstance(result, tuple):
        return target, result[0], result[1]
    return target, result, {}
