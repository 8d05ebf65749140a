"""FGSM and PGD (L-infinity and L2), untargeted or targeted, with random start.

Everything works in *model-input space* (after the run's preprocessing), so
``eps`` is measured in the units the model sees (for min-max scaled images: a
fraction of the pixel range) and adversarial inputs are kept inside the valid
range ``bounds`` (see :mod:`lamina.robust.bounds`). The model's parameters
never receive gradients: only the perturbation is differentiated.

    delta <- random start in the eps-ball (optional)
    repeat steps:
        g     <- d loss(model(x + delta), y) / d delta        (minus for targeted)
        delta <- delta + step_size * sign(g)   | g / ||g||_2   (L-inf | L2)
        delta <- project onto the eps-ball, then onto the valid range
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lamina.errors import ConfigError

NORMS = ("linf", "l2")
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Bounds = tuple[torch.Tensor | float, torch.Tensor | float]


def classification_loss(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for class logits, binary cross-entropy for one logit per sample (the attack's objective)."""
    if outputs.dim() == 2 and outputs.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(outputs, target.float().reshape(outputs.shape))
    return F.cross_entropy(outputs, target.long())


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, norm: str = "linf",
         targeted: bool = False, random_start: bool = False, step_size: float | None = None,
         bounds: Bounds | None = None, loss_fn: LossFn | None = None,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """Fast gradient (sign) method: one step of size ``eps`` along the sign (L-inf) or direction (L2) of the gradient.

    With ``random_start`` it is the "fast is better than free" variant used for cheap adversarial
    training: a uniform start in the eps-ball and a step of ``step_size`` (default 1.25 * eps).
    ``y`` holds the true labels, or the target labels when ``targeted``.
    """
    if step_size is None:
        step_size = 1.25 * eps if random_start else eps
    return pgd(model, x, y, eps, steps=1, step_size=step_size, norm=norm, targeted=targeted,
               random_start=random_start, bounds=bounds, loss_fn=loss_fn, generator=generator)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 20,
        step_size: float | None = None, norm: str = "linf", targeted: bool = False, random_start: bool = True,
        bounds: Bounds | None = None, loss_fn: LossFn | None = None,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al.): ``steps`` gradient steps projected onto the eps-ball.

    ``step_size`` defaults to 2.5 * eps / steps. ``bounds`` (low, high) are scalars or tensors broadcastable
    to one input; ``y`` holds true labels (untargeted: the loss is maximized) or target labels (targeted:
    the loss towards them is minimized). Returns the adversarial inputs, detached; the model's train/eval
    mode is left as it was (call ``model.eval()`` first to attack the deployed model).
    """
    check_attack(eps, steps, norm)
    if step_size is None:
        step_size = 2.5 * eps / steps
    loss_fn = loss_fn or classification_loss
    x = x.detach()
    delta = random_delta(x, eps, norm, generator) if random_start else torch.zeros_like(x)
    delta = clamp_to(x + delta, bounds) - x
    sign = -1.0 if targeted else 1.0
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = loss_fn(model(x + delta), y)
        (grad,) = torch.autograd.grad(sign * loss, delta)
        with torch.no_grad():
            delta = delta + step_size * direction(grad, norm)
            delta = project(delta, eps, norm)
            delta = clamp_to(x + delta, bounds) - x
    return (x + delta).detach()


def check_attack(eps: float, steps: int, norm: str) -> None:
    """Refuse an attack setting that cannot work, with the field named."""
    if norm not in NORMS:
        raise ConfigError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
    if not eps > 0:
        raise ConfigError(f"eps must be positive; got {eps}")
    if steps < 1:
        raise ConfigError(f"steps must be a positive integer; got {steps}")


def _per_sample_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each sample, shaped to broadcast over it: (B, 1, 1, ...)."""
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent step of unit size: sign(g) for L-inf, g / ||g||_2 per sample for L2."""
    return grad.sign() if norm == "linf" else grad / _per_sample_norm(grad)


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project each sample's perturbation onto the eps-ball of ``norm``."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _per_sample_norm(delta)).clamp(max=1.0)


def random_delta(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniform random point in the eps-ball around zero, one per sample (the attack's random start)."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return (2 * u - 1) * eps
    gauss = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    dims = x[0].numel()
    radius = torch.rand(len(x), generator=generator, dtype=x.dtype).to(x.device) ** (1.0 / dims) * eps
    return gauss / _per_sample_norm(gauss) * radius.view(-1, *([1] * (x.dim() - 1)))


def clamp_to(x: torch.Tensor, bounds: Bounds | None) -> torch.Tensor:
    """Clamp inputs into the valid range (low, high); unchanged when ``bounds`` is None."""
    if bounds is None:
        return x
    low, high = (torch.as_tensor(b, dtype=x.dtype, device=x.device) for b in bounds)
    return torch.maximum(torch.minimum(x, high), low)
