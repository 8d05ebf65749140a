"""Data-parallel training: two gloo processes end with the weights of one process on the same global batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

import lamina
from lamina.errors import ConfigError
from lamina.train.callbacks import Callback
from lamina.train.distributed import World, rank_slice, shard_weights

ROWS = 331  # 265 training rows: four full batches of 64 and an odd last batch of 9, split 5 / 4


def _config(tmp_path: Path, name: str, batch_path: str = "memory", **train) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 6))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    data = tmp_path / "table.csv"
    if not data.exists():
        lines = ["a,b,c,d,e,f,label"] + [",".join(f"{v:.5f}" for v in row) + f",{t}" for row, t in zip(x, y)]
        data.write_text("\n".join(lines) + "\n")
    config = {"name": name, "runs_dir": str(tmp_path / "runs"), "seed": 3,
              "data": {"path": str(data), "target": "label", "batch_path": batch_path,
                       "split": {"val": 0.1, "test": 0.1, "seed": 0}},
              "model": {"arch": "mlp", "hidden": [32, 16], "dropout": 0.0},
              "train": {"epochs": 1, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.01},
                        "restore_best": False, "tensorboard": False, **train}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _launch(config: Path, nproc: int, *more: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return subprocess.run([sys.executable, "-m", "lamina.cli", "train", str(config), "--nproc", str(nproc),
                           "--progress", "none", *more], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("batch_path", ["memory", "loader"])
def test_two_processes_match_one(tmp_path: Path, batch_path: str) -> None:
    single = lamina.fit(_config(tmp_path, "one", batch_path), progress="none")
    assert single.folder.root.name == "one"
    done = _launch(_config(tmp_path, "two", batch_path), 2)
    assert done.returncode == 0, done.stderr[-3000:]
    one = load_file(single.folder.weights)
    two = load_file(tmp_path / "runs" / "two" / "model.safetensors")
    assert one.keys() == two.keys()
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5, rtol=0), (key, (one[key] - two[key]).abs().max())
    assert json.loads((tmp_path / "runs" / "two" / "summary.json").read_text())["processes"] == 2
    assert json.loads(single.folder.summary.read_text())["processes"] == 1
    assert not any(p.name.startswith("two-") for p in (tmp_path / "runs").iterdir())  # one run folder, rank 0's
    logs_one = [yaml.safe_load(line) for line in single.folder.metrics.read_text().splitlines()]
    logs_two = [yaml.safe_load(line) for line in (tmp_path / "runs" / "two" / "metrics.jsonl").read_text().splitlines()]
    assert logs_one[-1]["train_loss"] == pytest.approx(logs_two[-1]["train_loss"], abs=1e-5)
    assert logs_one[-1]["val_loss"] == pytest.approx(logs_two[-1]["val_loss"], abs=1e-5)


class StopAfter(Callback):
    """Interrupt training once optimizer step ``step`` is done."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_batch_end(self, state) -> None:
        if state.step == self.step and state.at_update:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_a_one_process_checkpoint_resumes_under_two(tmp_path: Path) -> None:
    settings = {"epochs": 2, "checkpoint": {"every_steps": 3}}
    reference = lamina.fit(_config(tmp_path, "ref", **settings), progress="none")
    config = _config(tmp_path, "cut", **settings)
    with pytest.raises(KeyboardInterrupt):  # after step 7 of 10; the newest checkpoint is step 6, mid-epoch 2
        lamina.fit(config, progress="none", extra_callbacks=[StopAfter(7)])
    done = _launch(config, 2, "--resume", "--progress", "plain")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from" in done.stderr and "step 6" in done.stderr, done.stderr[-3000:]
    resumed = load_file(tmp_path / "runs" / "cut" / "model.safetensors")
    for key, value in load_file(reference.folder.weights).items():
        assert torch.allclose(value, resumed[key], atol=1e-5, rtol=0), key


def test_shard_weights_make_the_global_mean() -> None:
    sizes = [64, 64, 9]  # 137 rows
    for rank in (0, 1):
        weights = shard_weights(137, 64, World(rank, 2))
        mine = [len(range(rank, s, 2)) for s in sizes]
        assert weights == pytest.approx([m * 2 / s for m, s in zip(mine, sizes)])
    assert shard_weights(137, 64, World()) is None
    with pytest.raises(ConfigError, match="train.batch_size must leave at least 2 samples"):
        shard_weights(129, 64, World(0, 2))  # a last batch of one row cannot feed two processes
    blocks = [rank_slice(10, World(r, 3)) for r in range(3)]
    assert [list(range(10))[b] for b in blocks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_a_batch_size_that_starves_a_process_is_refused_before_launch(tmp_path: Path) -> None:
    config = _config(tmp_path, "odd", batch_size=66)  # 265 training rows: the last batch holds 1
    done = _launch(config, 2)
    assert done.returncode == 2
    assert done.stderr.count("train.batch_size must leave at least 2 samples") == 1, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "runs").exists()
