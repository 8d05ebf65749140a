"""Augmentation steps: what each does to a batch, how configs are checked, how mixed losses are formed."""

from __future__ import annotations

import pytest
import torch

from lamina.config import parse_run_spec
from lamina.data.augment import augment, check_inputs, parse_pipeline
from lamina.errors import ConfigError


def run(items: list, x: torch.Tensor, seed: int = 0):
    return augment(parse_pipeline(items), x, torch.Generator().manual_seed(seed))


def dot_image() -> torch.Tensor:
    x = torch.zeros(4, 1, 7, 7)
    x[:, 0, 3, 3] = 1.0
    return x


def test_shift_moves_the_image_by_whole_pixels_only() -> None:
    out, mix = run([{"shift": 2}], dot_image())
    assert mix is None and out.shape == (4, 1, 7, 7)
    for image in out[:, 0]:
        assert torch.isclose(image.sum(), torch.tensor(1.0))  # moved, not blurred
        row, col = divmod(int(image.argmax()), 7)
        assert abs(row - 3) <= 2 and abs(col - 3) <= 2
    moved = [divmod(int(image.argmax()), 7) != (3, 3) for image in out[:, 0]]
    assert any(moved)


def test_flip_mirrors_left_right_with_probability_one() -> None:
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    out, _ = run([{"flip": {"axis": "horizontal", "p": 1.0}}], x)
    assert torch.equal(out, x.flip(3))


def test_rotate_keeps_mass_near_the_centre_and_changes_off_centre_pixels() -> None:
    x = torch.zeros(2, 1, 9, 9)
    x[:, 0, 1, 4] = 1.0  # above the centre
    out, _ = run([{"rotate": 45}], x, seed=3)
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_cutout_zeroes_a_square() -> None:
    x = torch.ones(8, 1, 6, 6)
    out, _ = run([{"cutout": {"size": 2, "p": 1.0}}], x)
    holes = (out == 0).sum(dim=(1, 2, 3))
    assert torch.all((holes >= 1) & (holes <= 4)) and holes.max() == 4


def test_noise_has_the_asked_standard_deviation() -> None:
    x = torch.zeros(64, 50)
    out, _ = run([{"noise": 0.3}], x)
    assert abs(float(out.std()) - 0.3) < 0.02


def test_mixup_and_cutmix_blend_pairs_and_report_the_weight() -> None:
    x = torch.arange(16.0).reshape(16, 1).repeat(1, 3)
    out, mix = run([{"mixup": 0.4}], x)
    assert 0 < mix.lam < 1
    assert torch.allclose(out, mix.lam * x + (1 - mix.lam) * x[mix.pair])
    images = torch.rand(8, 1, 8, 8)
    pasted, mix = run([{"cutmix": 1.0}], images)
    from_pair = (pasted == images[mix.pair]) & (pasted != images)
    assert torch.isclose(1 - from_pair.float().mean(), torch.tensor(mix.lam), atol=0.05)


def test_token_dropout_never_touches_padding() -> None:
    x = torch.randint(1, 50, (200, 20))
    x[:, 15:] = 0
    out, _ = run([{"token_dropout": 0.25}], x)
    assert torch.all(out[:, 15:] == 0)
    dropped = float((out[:, :15] == 0).float().mean())
    assert 0.2 < dropped < 0.3


def test_same_seed_same_batch() -> None:
    x = torch.rand(8, 1, 8, 8)
    items = [{"shift": 1}, {"rotate": 10}, {"noise": 0.1}, {"cutout": 2}]
    assert torch.equal(run(items, x, 5)[0], run(items, x, 5)[0])
    assert not torch.equal(run(items, x, 5)[0], run(items, x, 6)[0])


def test_bad_pipelines_are_named() -> None:
    with pytest.raises(ConfigError, match=r"train.augment\[0\] augmentation must be one of .* Did you mean 'mixup'"):
        parse_run_spec({"data": {"dataset": "iris"}, "model": {"arch": "mlp"}, "train": {"augment": ["mixpu"]}})
    with pytest.raises(ConfigError, match=r"train.augment\[1\].rotate.degrees"):
        parse_pipeline(["flip", {"rotate": -5}])
    with pytest.raises(ConfigError, match=r"train.augment\[0\]: 'flip' needs image inputs"):
        check_inputs(parse_pipeline(["flip"]), torch.zeros(1, 4))
    with pytest.raises(ConfigError, match="'token_dropout' needs token-id inputs"):
        check_inputs(parse_pipeline(["token_dropout"]), torch.zeros(1, 1, 8, 8))
