"""TPE against random search on a task whose default config is deliberately poor.

Digits with an MLP trained by plain SGD at lr=1e-4 for 10 epochs (the default
config) barely learns. Each sampler gets 30 trials over the same space, for 3
seeds; we print the default's test accuracy and, per seed, the test accuracy
of each sampler's best trial (chosen on validation accuracy).

    .venv/bin/python benchmarks/tune_tpe_vs_random.py
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import torch

from lamina.trainer import train
from lamina.tune import tune

BASE = {
    "name": "digits-poor",
    "data": {"dataset": "digits"},
    "model": {"arch": "mlp", "hidden": [32]},
    "train": {"epochs": 10, "batch_size": 64, "tensorboard": False, "optimizer": {"name": "sgd", "lr": 1e-4}},
}
SPACE = {
    "train.optimizer.name": {"choices": ["sgd", "adam"]},
    "train.optimizer.lr": {"low": 1e-5, "high": 1.0, "log": True},
    "model.hidden": {"choices": [[16], [32], [64], [128], [64, 32]]},
    "model.dropout": {"low": 0.0, "high": 0.5},
    "train.batch_size": {"choices": [16, 32, 64, 128]},
}


def main(trials: int = 30, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    """Run both samplers for every seed and print the test accuracies of their best trials."""
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="lamina-tune-bench-"))
    default = train({**BASE, "runs_dir": str(root / "runs")}, progress="none")
    from lamina.files import read_json

    default_acc = read_json(default.folder.summary)["test"]["accuracy"]
    print(f"default config: test accuracy {default_acc:.4f}")
    results: dict[str, list[float]] = {"tpe": [], "random": []}
    for seed in seeds:
        for sampler in results:
            config = {**BASE, "name": f"bench-{sampler}-{seed}", "runs_dir": str(root / "runs"),
                      "tune": {"sampler": sampler, "seed": seed, "trials": trials, "startup_trials": 8, "params": SPACE}}
            report = tune(config, out=root / f"{sampler}-{seed}")
            best = report["best"][0]
            results[sampler].append(best["test"]["accuracy"])
            print(f"seed {seed} {sampler:6s}: best val {best['values'][0]:.4f} test {best['test']['accuracy']:.4f} "
                  f"({report['epochs_total']} epochs)", flush=True)
    for sampler, accs in results.items():
        print(f"{sampler:6s}: mean best test accuracy {statistics.mean(accs):.4f} over seeds {list(seeds)} "
              f"({', '.join(f'{a:.4f}' for a in accs)})")


if __name__ == "__main__":
    main()
