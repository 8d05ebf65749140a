"""data.synthetic: a VAE run's samples, labelled by its judge, join a small digits training split.

The generator and the classifiers share one split (about 200 training digits), so the generator never
sees the classifiers' test rows.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lamina.config import SyntheticSpec, parse_run_spec
from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError
from lamina.files import load_tensors
from lamina.generative.run import load_generative, train_generative
from lamina.generative.synthetic import add_synthetic
from lamina.nn.build import build_model
from lamina.trainer import train

SMALL = {"dataset": "digits", "split": {"val": 0.15, "test": 0.74, "seed": 0}}
CLASSIFIER = {"arch": "mlp", "hidden": [64]}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    config = {"name": "vae", "seed": 0, "runs_dir": str(runs), "data": SMALL, "model": CLASSIFIER,
              "generative": {"model": "vae", "kind": "dense", "latent": 8, "judge_epochs": 40, "coverage_every": 300},
              "train": {"epochs": 300, "batch_size": 32, "optimizer": {"lr": 0.003}}}
    train_generative(config, "none")
    return str(next(runs.iterdir()))


def test_synthetic_examples_are_added_with_the_judges_labels(vae_run) -> None:
    data = prepare_data(parse_run_spec({"data": SMALL, "model": CLASSIFIER}).data)
    more = add_synthetic(data, SyntheticSpec(run=vae_run, n=300))
    assert len(more.train) == len(data.train) + 300 and more.train.x.shape[1:] == data.train.x.shape[1:]
    assert torch.equal(more.train.x[: len(data.train)], data.train.x) and (more.train.rows[-300:] == -1).all()
    assert len(more.val) == len(data.val) and len(more.test) == len(data.test)  # only training grows
    run = load_generative(vae_run)
    classes = run.preprocessor.target.classes
    judge = build_model(run.spec.model, tuple(run.preprocessor.inputs.shape), len(classes)).model
    judge.load_state_dict(load_tensors(run.folder.root / "judge.safetensors"))
    with torch.no_grad():
        judged = judge.eval()(more.train.x[-300:]).argmax(1)
    added = more.train.y[-300:]
    assert (judged == added).float().mean() >= 0.99
    assert len(set(added.tolist())) >= 6  # samples spread over the digit classes


def test_synthetic_examples_in_a_training_run(vae_run, tmp_path) -> None:
    scores, sizes = {}, {}
    for n in (0, 500):
        data = dict(SMALL, synthetic={"run": vae_run, "n": n}) if n else SMALL
        accs = []
        for seed in (0, 1, 2):
            config = {"name": f"mlp-{n}-{seed}", "seed": seed, "runs_dir": str(tmp_path), "data": data,
                      "model": CLASSIFIER, "train": {"epochs": 30, "batch_size": 32, "optimizer": {"lr": 0.003},
                                                     "tensorboard": False}}
            summary = json.loads(train(config, progress="none").folder.summary.read_text())
            sizes[n] = summary["samples"]["train"]
            accs.append(summary["test"]["accuracy"])
        scores[n] = float(np.mean(accs))
    assert sizes[500] == sizes[0] + 500
    print(f"digits, ~200 real training rows, 3 seeds: test accuracy {scores[0]:.3f} real only, "
          f"{scores[500]:.3f} with 500 VAE samples")  # the honest figure, with pytest -s
    assert scores[500] >= 0.5  # the labelled samples do not wreck training (chance is 0.1)


def test_a_generator_run_without_a_judge_is_refused(tmp_path) -> None:
    runs = tmp_path / "runs"
    config = {"name": "ae", "runs_dir": str(runs), "data": SMALL, "model": CLASSIFIER,
              "generative": {"model": "autoencoder", "kind": "dense", "latent": 4},
              "train": {"epochs": 1, "batch_size": 64}}
    train_generative(config, "none")
    data = prepare_data(parse_run_spec({"data": SMALL, "model": CLASSIFIER}).data)
    with pytest.raises(ConfigError, match="data.synthetic.run must be a vae or gan run"):
        add_synthetic(data, SyntheticSpec(run=str(next(runs.iterdir())), n=10))
