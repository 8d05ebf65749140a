"""The common suite of the model families beside the presets: every registered family builds, gives the output
shape it declares, round-trips its weights through the run folder's format, and its loss falls in a few steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from lamina.cli import app
from lamina.files import load_tensors, save_tensors
from lamina.nn.models.family import Example
from lamina.registry import FAMILIES, PRESETS
from lamina.train.alternating import discriminator_loss
from lamina.train.reconstruction import reconstruction_loss

NAMES = FAMILIES.names()


def batch_loss(name: str, ex: Example) -> torch.Tensor:
    """The loss one batch of the family is trained on (the GAN's: its discriminator's, on fixed fakes)."""
    x = ex.inputs
    if name in ("autoencoder", "vae"):
        return reconstruction_loss(ex.model, x, x, beta=1.0)
    if name == "denoising":
        return F.mse_loss(ex.model(x * (torch.arange(x[0].numel()).reshape(x[0].shape) % 3 > 0)), x)
    if name == "gan":
        real = torch.rand(len(x), *ex.output_shape[1:])
        with torch.no_grad():
            fake = ex.model.generator(x)
        return discriminator_loss(ex.model.discriminator(real), ex.model.discriminator(fake), "nonsaturating", 0.0)
    if name == "unet":
        return F.cross_entropy(ex.model(x), (x[:, 0] * 3).long().clamp(max=2))
    if name == "gpt":
        logits = ex.model(x[:, :-1])  # (B, T - 1, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
    if name == "reward":  # Bradley-Terry: each even row preferred to the odd row after it
        r = ex.run()  # (B,)
        return -F.logsigmoid(r[0::2] - r[1::2]).mean()
    raise AssertionError(f"no batch loss for the model family {name!r}: add one here")


def untied(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict without tensors that share storage with an earlier one (GPT's tied head), as safetensors needs."""
    seen: set[int] = set()
    kept = {}
    for key, tensor in state.items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            kept[key] = tensor
    return kept


@pytest.mark.parametrize("name", NAMES)
def test_family_builds_with_its_declared_output_shape(name: str) -> None:
    ex = FAMILIES.get(name).example()
    assert tuple(ex.run().shape) == ex.output_shape
    assert sum(p.numel() for p in ex.model.parameters()) > 0


@pytest.mark.parametrize("name", NAMES)
def test_family_weights_round_trip_through_safetensors(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    ex = FAMILIES.get(name).example()
    save_tensors(tmp_path / "model.safetensors", untied(ex.model.state_dict()))
    torch.manual_seed(1)
    again = FAMILIES.get(name).example()
    missing, unexpected = again.model.load_state_dict(load_tensors(tmp_path / "model.safetensors"), strict=False)
    assert unexpected == [] and all(k in ex.model.state_dict() for k in missing)
    ex.model.eval(), again.model.eval()
    fresh = Example(again.model, ex.inputs, ex.output_shape, ex.outputs)
    assert torch.equal(ex.run(), fresh.run())


@pytest.mark.parametrize("name", NAMES)
def test_family_loss_falls_over_a_few_steps(name: str) -> None:
    torch.manual_seed(0)
    ex = FAMILIES.get(name).example()
    optimizer = torch.optim.Adam(ex.model.parameters(), lr=0.01)
    losses = []
    for _ in range(40):
        loss = batch_loss(name, ex)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.95 * losses[0], losses  # worst of seeds 0-2 at 1 and 2 threads: 0.89 (the VAE)


def test_info_lists_every_preset_and_model_family() -> None:
    result = CliRunner().invoke(app, ["info"])
    assert result.exit_code == 0
    assert [n for n in PRESETS.names() + NAMES if n not in result.output] == []
    assert {"autoencoder", "denoising", "vae", "gan", "unet", "gpt", "reward"} <= set(NAMES)
