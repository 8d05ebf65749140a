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
