"""The next-token step in the one loop: accumulation, the non-finite stop, early stopping with the best weights,
and the window source re-winding a resumed epoch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lamina.files import load_tensors
from lamina.lm.nexttoken import WindowBatches
from lamina.lm.train import train_lm
from lamina.train.callbacks import Callback
from lamina.train.checkpoint import load_best_weights
from lamina.train.finite import TrainingDiverged
from tests.conftest import shakespeare_slice


def config(text: Path, runs: Path, name: str, **train) -> dict:
    """A tiny GPT without dropout: 2 epochs of 5 steps."""
    return {"task": "language_model", "name": name, "runs_dir": str(runs), "data": {"path": str(text)},
            "model": {"layers": 1, "heads": 2, "width": 16, "context": 8, "dropout": 0.0},
            "train": {"steps": 10, "eval_every": 5, "eval_batches": 1, "batch_size": 8, "threads": 1, **train}}


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shakespeare_slice(tmp_path_factory.mktemp("text"), 20_000)


def test_two_accumulated_half_batches_train_as_one_full_batch(text, tmp_path) -> None:
    whole = train_lm(config(text, tmp_path, "whole"), progress="none")
    # train.steps counts batches: 20 half batches in groups of 2 are the 10 updates of the whole run
    halves = train_lm(config(text, tmp_path, "halves", steps=20, eval_every=10, batch_size=4, accumulate_steps=2),
                      progress="none")
    a, b = load_tensors(whole / "model.safetensors"), load_tensors(halves / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    first = json.loads((whole / "metrics.jsonl").read_text().splitlines()[0])
    assert first["train_loss"] == pytest.approx(json.loads((halves / "metrics.jsonl").read_text().splitlines()[0])
                                                ["train_loss"], rel=1e-4)


class Poison(Callback):
    """Makes the embedding NaN before the third batch of the first epoch."""

    def on_batch_start(self, state) -> None:
        if state.epoch == 0 and state.batch == 2:
            with torch.no_grad():
                state.model.embed.weight.fill_(float("nan"))


def test_a_non_finite_loss_stops_at_that_step_naming_it_and_the_layer(text, tmp_path) -> None:
    with pytest.raises(TrainingDiverged, match=r"at step 3 \(epoch 1, batch 3 of 5\): the loss is nan; the first "
                                               r"layer with a non-finite gradient is embed.weight"):
        train_lm(config(text, tmp_path, "nan"), progress="none", extra_callbacks=[Poison()])


def test_early_stopping_ends_the_run_and_restore_best_keeps_the_best_epoch(text, tmp_path) -> None:
    run = train_lm(config(text, tmp_path, "early", steps=20, restore_best=True,
                          early_stopping={"monitor": "train_loss", "patience": 1, "min_delta": 100.0}),
                   progress="none")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_early"] and summary["steps"] == 10  # 2 of 4 epochs
    best = load_best_weights(run / "checkpoints")
    saved = load_tensors(run / "model.safetensors")
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [5, 10] and lines[1]["train_loss"] < lines[0]["train_loss"]
    assert all(torch.equal(saved[k], best[k]) for k in saved)  # the best by train_loss: the second epoch


def test_a_resumed_epoch_draws_the_windows_an_uninterrupted_one_draws() -> None:
    ids = torch.arange(100) % 7
    straight = WindowBatches(ids, 4, 3, 5, seed=1, device=torch.device("cpu"))
    first = list(straight)
    resumed = WindowBatches(ids, 4, 3, 5, seed=9, device=torch.device("cpu"))
    resumed.resume(straight.epoch_rng, 2)
    rest = list(resumed)
    assert len(rest) == 3 and all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first[2:], rest))
    assert torch.equal(first[0][1][:, :-1], first[0][0][:, 1:])  # targets: the inputs shifted by one token


def test_resuming_over_a_changed_text_is_refused(text, tmp_path) -> None:
    from lamina.errors import ConfigError

    class Stop(Callback):
        def on_epoch_end(self, state) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_lm(config(text, tmp_path, "changed"), progress="none", extra_callbacks=[Stop()])
    other = tmp_path / "other.txt"
    other.write_text(text.read_text()[:15_000] + "\u00e9" * 3000)  # a character the first text never had
    with pytest.raises(ConfigError, match="the text's vocabulary changed"):
        train_lm(config(other, tmp_path, "changed"), progress="none", resume=True)
