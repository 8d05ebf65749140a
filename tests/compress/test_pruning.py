"""Pruning: structured pruning halves a digits CNN's channels and keeps its accuracy after fine-tuning;
unstructured pruning reaches the asked sparsity, globally or per layer."""

from __future__ import annotations

import copy

import pytest
from torch import nn

from lamina.compress.pruning import make_permanent, prune_unstructured, sparsity_report
from lamina.compress.run import CompressOptions, compress
from lamina.errors import ConfigError
from lamina.files import read_json
from lamina.runs import load_run


def _widths(model: nn.Module) -> list[int]:
    return [m.out_channels if isinstance(m, nn.Conv2d) else m.out_features
            for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_structured_pruning_halves_channels_and_keeps_accuracy(digits_cnn) -> None:
    out = compress(digits_cnn.folder.root, CompressOptions(prune=0.5, finetune_epochs=6, progress="none",
                                                           name="pruned"))
    pruned = load_run(out)  # the new folder rebuilds the smaller chain from its own config.yaml
    assert _widths(digits_cnn.model) == [16, 32, 64, 10]
    assert _widths(pruned.model) == [8, 16, 32, 10]
    original, compressed = read_json(out / "compression.json")["comparison"]
    assert compressed["params"] < 0.35 * original["params"]
    assert compressed["file_bytes"] < 0.4 * original["file_bytes"]
    assert original["score"] > 0.97
    assert compressed["score"] >= original["score"] - 0.015, (original["score"], compressed["score"])


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_unstructured_pruning_reaches_the_asked_sparsity(digits_mlp, scope: str) -> None:
    model = copy.deepcopy(digits_mlp.model)
    prune_unstructured(model, 0.6, scope)
    make_permanent(model)
    rows = sparsity_report(model)
    assert rows[-1]["layer"] == "total" and rows[-1]["sparsity"] == pytest.approx(0.6, abs=0.01)
    per_layer = [r["sparsity"] for r in rows[:-1]]
    if scope == "layer":
        assert all(s == pytest.approx(0.6, abs=0.01) for s in per_layer)
    else:  # global: the big first layer gives up more than the small output layer
        assert max(per_layer) - min(per_layer) > 0.05


def test_iterative_unstructured_pruning_keeps_accuracy(digits_mlp) -> None:
    out = compress(digits_mlp.folder.root, CompressOptions(prune=0.8, prune_mode="global", steps=2,
                                                           finetune_epochs=2, progress="none", name="sparse"))
    report = read_json(out / "compression.json")
    assert report["sparsity"][-1]["sparsity"] == pytest.approx(0.8, abs=0.01)
    original, compressed = report["comparison"]
    assert compressed["score"] >= original["score"] - 0.02


def test_bad_amount_is_refused_naming_the_option(digits_mlp) -> None:
    with pytest.raises(ConfigError, match="prune amount must be between 0 and 1"):
        prune_unstructured(copy.deepcopy(digits_mlp.model), 1.5)
