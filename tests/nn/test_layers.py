"""The common layer suite: every registered layer is checked the same way, plus shape errors."""

from __future__ import annotations

import io

import pytest
import torch
from safetensors.torch import load, save

from lamina.errors import ConfigError, ShapeError
from lamina.nn.layers import build_chain, parse_chain, parse_layer
from lamina.registry import LAYERS

NAMES = LAYERS.names()


def _example_chain(name: str) -> tuple[list, tuple[int, ...]]:
    kind = LAYERS.get(name)
    item = {name: kind.example_args} if kind.example_args else name
    return [item], kind.example_input


@pytest.mark.parametrize("name", NAMES)
def test_layer_builds_and_infers_its_shape(name: str) -> None:
    chain, shape = _example_chain(name)
    layers, out, rows = build_chain(parse_chain(chain, "t"), shape)
    x = LAYERS.get(name).example_batch(4)
    assert tuple(layers.eval()(x).shape[1:]) == out
    assert rows[0].output_shape == out


@pytest.mark.parametrize("name", NAMES)
def test_layer_round_trips_through_safetensors(name: str) -> None:
    chain, shape = _example_chain(name)
    layers, _, _ = build_chain(parse_chain(chain, "t"), shape)
    for p in layers.parameters():
        torch.nn.init.normal_(p)
    blob = save({k: v.contiguous() for k, v in layers.state_dict().items()}) if layers.state_dict() else b""
    fresh, _, _ = build_chain(parse_chain(chain, "t"), shape)
    if blob:
        fresh.load_state_dict(load(blob))
    x = LAYERS.get(name).example_batch(3)
    assert torch.equal(layers.eval()(x), fresh.eval()(x))


@pytest.mark.parametrize("name", NAMES)
def test_loss_falls_with_layer_in_a_chain(name: str) -> None:
    chain, shape = _example_chain(name)
    chain = chain + ["flatten", {"dense": 64}, "relu", {"dense": 3}]
    layers, _, _ = build_chain(parse_chain(chain, "t"), shape)
    torch.manual_seed(1)
    x, y = LAYERS.get(name).example_batch(32), torch.randint(0, 3, (32,))
    opt = torch.optim.Adam(layers.parameters(), lr=0.01)
    first = None
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(layers.train()(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first


def test_scalar_and_mapping_forms_mean_the_same() -> None:
    a = parse_layer({"conv2d": 8}, "p").args
    b = parse_layer({"conv2d": {"filters": 8}}, "p").args
    assert a == b and a.kernel == 3


def test_unknown_layer_suggests_the_close_name() -> None:
    with pytest.raises(ConfigError, match=r"model.layers\[1\].*'maxpol'.*Did you mean 'maxpool'"):
        parse_chain(["relu", {"maxpol": 2}], "model.layers")


def test_bad_layer_argument_names_the_path() -> None:
    with pytest.raises(ConfigError, match=r"model.layers\[0\].dense.units must be greater than 0; got -3"):
        parse_chain([{"dense": -3}], "model.layers")
    with pytest.raises(ConfigError, match=r"model.layers\[0\].conv2d.kernal is not a known field. Did you mean 'kernel'"):
        parse_chain([{"conv2d": {"filters": 4, "kernal": 3}}], "model.layers")


def test_rank_mismatch_is_caught_at_build_time() -> None:
    with pytest.raises(ShapeError, match=r"\[0\] \(conv2d\) expects input shaped \(channels, height, width\); got \(64,\)"):
        build_chain(parse_chain([{"conv2d": 4}], "model.layers"), (64,))


def test_impossible_pooling_names_layer_and_shape() -> None:
    chain = [{"maxpool": 2}] * 4
    with pytest.raises(ShapeError, match=r"model.layers\[3\] \(maxpool\) cannot take input of shape \(1, 1, 1\)"):
        build_chain(parse_chain(chain, "model.layers"), (1, 8, 8))


def test_residual_projects_when_shapes_differ() -> None:
    chain = [{"residual": [{"conv2d": {"filters": 8, "stride": 2}}, "relu"]}]
    layers, out, rows = build_chain(parse_chain(chain, "t"), (3, 8, 8))
    assert out == (8, 4, 4)
    assert not isinstance(layers[0].shortcut, torch.nn.Identity)
    identity, _, _ = build_chain(parse_chain([{"residual": [{"conv2d": 3}]}], "t"), (3, 8, 8))
    assert isinstance(identity[0].shortcut, torch.nn.Identity)
    assert [r.depth for r in rows] == [0, 1, 1]


def test_residual_without_projection_refuses_shape_change() -> None:
    with pytest.raises(ShapeError, match="projection is 'none'"):
        build_chain(parse_chain([{"residual": {"layers": [{"dense": 4}], "projection": "none"}}], "t"), (6,))


def test_dense_applies_to_the_last_axis() -> None:
    _, out, _ = build_chain(parse_chain([{"dense": 5}], "t"), (3, 7))
    assert out == (3, 5)
