"""Categorical table columns through learned embeddings instead of one-hot columns."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lamina.config import DataSpec
from lamina.data.prepare import prepare_data
from lamina.data.readers import Table
from lamina.runs import load_run
from lamina.trainer import train

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "data" / "penguins_like.csv"


def test_categories_become_indices_and_an_embedding_layer_comes_first(tmp_path: Path) -> None:
    data = {"path": str(PENGUINS), "target": "species", "drop": ["id"], "categorical": ["year"],
            "categorical_encoding": "embedding"}
    prepared = prepare_data(DataSpec(**data))
    onehot = prepare_data(DataSpec(**{**data, "categorical_encoding": "onehot"}))
    assert prepared.input_shape == (7,) and onehot.input_shape[0] > 7  # island, sex, year: one input each
    sizes = dict(map(tuple, prepared.categories))
    columns = prepared.preprocessor.inputs.columns
    assert [c.name for c in columns if c.kind == "category_index"] == ["island", "sex", "year"]
    assert sizes[0] == len(columns[0].categories) + 1  # island's categories plus 'unseen'
    unseen = Table("new", {c.name: [("Atlantis" if c.name == "island" else str(c.fill))] for c in columns})
    assert prepared.preprocessor.inputs.transform_table(unseen)[0, 0] == 0.0

    spec = {"name": "emb", "runs_dir": str(tmp_path), "data": data, "model": {"arch": "mlp", "hidden": [16]},
            "train": {"epochs": 12, "batch_size": 32, "optimizer": {"lr": 0.01}, "tensorboard": False}}
    run = train(spec, progress="none")
    assert type(run.model.layers[0]).__name__ == "CategoryEmbedding"
    assert json.loads(run.folder.summary.read_text())["test"]["accuracy"] >= 0.9
    again = load_run(run.folder.root)
    x = prepared.test.x
    assert torch.equal(run.outputs(x), again.outputs(x))


def test_the_data_fills_embedding_vocab_and_category_sizes_into_hand_written_chains() -> None:
    from lamina.nn.build import with_data_facts

    chain = [{"embedding": 8}, {"gru": 4}, {"embedding": {"dim": 2, "vocab": 5}}]
    assert with_data_facts(chain, 30, None) == [{"embedding": {"vocab": 30, "dim": 8}}, {"gru": 4},
                                                {"embedding": {"vocab": 5, "dim": 2}}]  # a vocab given is kept
    sizes = [[0, 4], [2, 3]]
    assert with_data_facts(["category_embedding", {"dense": 2}], None, sizes)[0] == {
        "category_embedding": {"categories": sizes}}
    assert with_data_facts([{"dense": 2}], None, sizes) == [{"category_embedding": {"categories": sizes}}, {"dense": 2}]
