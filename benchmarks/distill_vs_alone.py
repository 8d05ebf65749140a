"""Distillation against the same student trained alone (same data, epochs and seeds).

A teacher CNN is trained on scikit-learn's digits; a student CNN with under a
quarter of its parameters is then trained twice per seed, once on the labels
alone and once with the teacher's temperature-softened outputs mixed in
(:class:`lamina.compress.distill.Distill`). Teacher and students keep the
epoch with the best validation loss, as ``lamina train`` does. Each regime is a data setting:
``full`` trains on 65% of the samples, ``small`` on 15% (about 270 digits),
``noisy`` on 65% with 30% of the training labels replaced at random. The test
accuracy of each, averaged over seeds, is printed side by side.

    .venv/bin/python benchmarks/distill_vs_alone.py [--regimes small,noisy] [--temperatures 2,4]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from lamina.compress.distill import Distill
from lamina.compress.run import KeepBest
from lamina.config import parse_run_spec
from lamina.data.prepare import Prepared, prepare_data
from lamina.nn.build import build_model
from lamina.train.callbacks import Callback
from lamina.train.loop import fit
from lamina.trainer import seed_everything

REGIMES = {"full": (0.2, 0.0), "small": (0.7, 0.0), "noisy": (0.2, 0.3)}  # test fraction, label noise
TEACHER = {"arch": "cnn", "channels": [16, 32], "dense": [64]}
STUDENT = {"arch": "cnn", "channels": [8, 16], "dense": [28]}


def spec_for(model: dict, test: float, epochs: int, seed: int):
    """The run spec of a digits (1x8x8 image) model."""
    return parse_run_spec({"name": "distill-bench", "seed": seed,
                           "data": {"dataset": "digits", "view": "image", "split": {"val": 0.15, "test": test, "seed": 0}},
                           "model": model,
                           "train": {"epochs": epochs, "batch_size": 32, "optimizer": {"name": "adamw", "lr": 0.003},
                                     "tensorboard": False}})


def noisy(data: Prepared, fraction: float, seed: int = 0) -> Prepared:
    """``data`` with ``fraction`` of its training labels replaced by uniformly random classes."""
    if fraction == 0:
        return data
    g = torch.Generator().manual_seed(seed)
    y = data.train.y.clone()
    flip = torch.rand(len(y), generator=g) < fraction
    y[flip] = torch.randint(0, int(y.max()) + 1, (int(flip.sum()),), generator=g)
    data.train.y = y
    return data


def trained(model_spec: dict, data: Prepared, epochs: int, seed: int, test: float,
            callbacks: list[Callback] | None = None) -> torch.nn.Module:
    """A fresh model trained on ``data`` for ``epochs`` epochs, keeping its best epoch on validation loss
    (as ``lamina train`` does with restore_best)."""
    spec = spec_for(model_spec, test, epochs, seed)
    seed_everything(seed)
    model = build_model(spec.model, data.input_shape, data.n_outputs).model
    best = KeepBest()
    fit(model, data, spec.train, [*(callbacks or []), best], torch.device("cpu"), seed=seed)
    model.load_state_dict(best.weights)
    return model.eval()


def accuracy(model: torch.nn.Module, data: Prepared) -> float:
    """Test accuracy."""
    with torch.inference_mode():
        return (model(data.test.x).argmax(1) == data.test.y).float().mean().item()


def params(model: torch.nn.Module) -> int:
    """Parameter count."""
    return sum(p.numel() for p in model.parameters())


def compare(regime: str, temperature: float, alpha: float, epochs: int, seeds: list[int]) -> dict[str, float]:
    """Mean test accuracy of the teacher, the student alone and the distilled student over ``seeds``."""
    test, noise = REGIMES[regime]
    data = noisy(prepare_data(spec_for(STUDENT, test, epochs, 0).data), noise)
    teacher = trained(TEACHER, data, epochs, 0, test)
    alone, distilled = [], []
    for seed in seeds:
        alone.append(accuracy(trained(STUDENT, data, epochs, seed, test), data))
        student = trained(STUDENT, data, epochs, seed, test, [Distill(teacher, temperature, alpha)])
        distilled.append(accuracy(student, data))
    return {"teacher": accuracy(teacher, data), "alone": statistics.mean(alone),
            "distilled": statistics.mean(distilled), "ratio": params(student) / params(teacher),
            "alone_seeds": alone, "distilled_seeds": distilled}


def main() -> None:
    """Print the side-by-side table for every regime, temperature and alpha asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", default="full,small,noisy")
    parser.add_argument("--temperatures", default="4")
    parser.add_argument("--alphas", default="0.5")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{'regime':8} {'T':>4} {'alpha':>5} {'teacher':>8} {'alone':>8} {'distilled':>9} {'gain':>7}  params")
    for regime in args.regimes.split(","):
        for t in (float(v) for v in args.temperatures.split(",")):
            for a in (float(v) for v in args.alphas.split(",")):
                r = compare(regime, t, a, args.epochs, seeds)
                print(f"{regime:8} {t:4g} {a:5g} {r['teacher']:8.4f} {r['alone']:8.4f} {r['distilled']:9.4f} "
                      f"{r['distilled'] - r['alone']:+7.4f}  student/teacher {r['ratio']:.3f}", flush=True)


if __name__ == "__main__":
    main()
