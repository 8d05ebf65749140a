"""Preference tuning from the user's pairs through ``lamina train``: DPO does the thing, resumes exactly, refuses mistakes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from lamina.cli import app
from lamina.errors import ConfigError
from lamina.files import load_tensors
from lamina.lm.cheerful import (CHEERFUL, GLOOMY, cheerful_fraction, corpus_text, held_out_prompts, pair_prompts,
                                preference_pairs, prompts, train_reference)
from lamina.lm.generate import load_language_run
from lamina.lm.pairs import pair_tensors
from lamina.lm.preference import reward_terms
from lamina.lm.preference_run import load_reward_run, train_preference
from lamina.lm.train import train_lm
from lamina.train.callbacks import Callback
from lamina.train.checkpoint import load_checkpoint, step_folders
from tests.train.test_kill import DRIVER, launch

PREFERENCE_DRIVER = DRIVER.replace("lamina.fit(", "from lamina.lm.preference_run import train_preference\n"
                                                  "train_preference(")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """The user's file: one JSON object a line."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def tiny_reference(tmp_path: Path) -> Path:
    """A small char LM on the cheerful corpus (seconds): enough to tune, not to write well."""
    text = tmp_path / "corpus.txt"
    text.write_text(corpus_text(0, 400), encoding="utf-8")
    return train_lm({"task": "language_model", "name": "ref", "runs_dir": str(tmp_path / "runs"),
                     "data": {"path": str(text)}, "model": {"layers": 1, "heads": 2, "width": 32, "context": 48},
                     "train": {"steps": 20, "batch_size": 16, "eval_every": 20}}, progress="none")


def fixed_pairs(n: int, seed: int) -> list[dict]:
    """Pairs preferring a cheerful ending over a gloomy one, written without sampling a model."""
    rng = random.Random(seed)
    return [{"prompt": p, "chosen": rng.choice(CHEERFUL) + ".", "rejected": rng.choice(GLOOMY) + "."}
            for p in prompts(seed, n)]


@pytest.mark.slow
def test_dpo_from_a_users_jsonl_raises_the_preferred_rate_and_keeps_perplexity(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    reference = load_language_run(train_reference(tmp_path, seed=0, steps=500))
    pairs = preference_pairs(reference.model, reference.tokenizer, pair_prompts(0), seed=3)
    jsonl = write_jsonl(tmp_path / "pairs.jsonl", [vars(p) for p in pairs])
    runs = tmp_path / "runs"
    config = tmp_path / "dpo.yaml"
    config.write_text(yaml.safe_dump({"name": "dpo", "runs_dir": str(runs), "train": {"epochs": 5, "tensorboard": False},
                                      "preference": {"pairs": str(jsonl), "reference": str(reference.folder.root)}}))
    runner = CliRunner()
    done = runner.invoke(app, ["train", str(config), "--progress", "none", "--set", "train.optimizer.lr=5e-4"])
    assert done.exit_code == 0, done.output
    assert "validation pairs ranked right" in done.output and "validation text perplexity" in done.output

    test = held_out_prompts(0, 200)
    tuned = load_language_run(runs / "dpo")
    before = cheerful_fraction(reference.model, reference.tokenizer, test, seed=7)
    after = cheerful_fraction(tuned.model, tuned.tokenizer, test, seed=7)
    summary = json.loads((runs / "dpo" / "summary.json").read_text())
    ratio = summary["val_perplexity"] / summary["reference_val_perplexity"]
    print(f"pairs {len(pairs)}: preferred {before:.3f} -> {after:.3f}; val perplexity ratio {ratio:.3f}")
    assert after >= before + 0.30, (before, after)
    assert ratio <= 1.25, summary
    assert len((runs / "dpo" / "metrics.jsonl").read_text().splitlines()) == 5  # the loop's per-epoch log

    sampled = runner.invoke(app, ["generate", str(runs / "dpo"), "--prompt", test[0], "--tokens", "12"])
    assert sampled.exit_code == 0 and sampled.output.startswith(test[0]), sampled.output

    reward = tmp_path / "reward.yaml"
    reward.write_text(yaml.safe_dump({"name": "reward", "runs_dir": str(runs), "train": {
        "epochs": 6, "tensorboard": False, "restore_best": False, "optimizer": {"lr": 3e-3}}, "preference": {
        "method": "reward", "pairs": str(jsonl), "reference": str(reference.folder.root)}}))
    assert runner.invoke(app, ["train", str(reward), "--progress", "none"]).exit_code == 0
    last = json.loads((runs / "reward" / "summary.json").read_text())["final_epoch"]
    assert last["val_pair_accuracy"] >= 0.85 and last["val_loss"] < 0.3, last  # untrained: 0.5 and log 2 = 0.69
    model, tokenizer = load_reward_run(runs / "reward")  # rebuilt from the folder, it ranks as validation did
    held = pair_tensors(pairs[-int(len(pairs) * 0.2):], tokenizer, reference.model.context)
    with torch.no_grad():
        right = int((reward_terms(model, *held)[1] > 0).sum())
    assert right == round(last["val_pair_accuracy"] * len(held[0])), (right, last)
    refused = runner.invoke(app, ["generate", str(runs / "reward"), "--prompt", test[0]])
    assert refused.exit_code == 2 and "is a reward-model run" in refused.output, refused.output


def dpo_config(tmp_path: Path, name: str, reference: Path, pairs: Path) -> dict:
    """Three epochs of 6 batches, text mix on (torch's generator draws its windows), checkpoints every 4 steps."""
    return {"name": name, "runs_dir": str(tmp_path / "runs"), "seed": 2,
            "preference": {"pairs": str(pairs), "reference": str(reference), "val": 0.25},
            "train": {"epochs": 3, "batch_size": 8, "tensorboard": False, "restore_best": False,
                      "optimizer": {"lr": 1e-3}, "schedule": {"name": "cosine"}, "checkpoint": {"every_steps": 4}}}


def final_state(run: Path) -> tuple:
    """Weights, optimizer tensors, the per-batch loss log, losses.jsonl and metrics.jsonl of a finished run."""
    newest = load_checkpoint(step_folders(run / "checkpoints")[0])
    return (load_tensors(run / "model.safetensors"), newest.optimizer, newest.tensors["losses.done"],
            (run / "losses.jsonl").read_text(), (run / "metrics.jsonl").read_text())


@pytest.mark.slow
def test_dpo_sigkill_and_resume_ends_as_a_straight_run(tmp_path: Path) -> None:
    reference = tiny_reference(tmp_path)
    pairs = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs(64, seed=5))
    assert launch(dpo_config(tmp_path, "straight", reference, pairs), "none", 0, PREFERENCE_DRIVER, 300) == 0
    rng = random.Random(11)
    kills = []
    for mode, at in [("step", rng.randint(2, 8)), ("save", rng.randint(1, 5)), ("step", rng.randint(2, 8)),
                     ("none", 0)]:
        if launch(dpo_config(tmp_path, "killed", reference, pairs), mode, at, PREFERENCE_DRIVER, 300) == 0:
            break
        kills.append((mode, at))
    print(f"SIGKILLed launches (mode, at): {kills}")
    assert len(kills) == 3 and (tmp_path / "runs" / "killed" / "summary.json").is_file()

    straight, killed = final_state(tmp_path / "runs" / "straight"), final_state(tmp_path / "runs" / "killed")
    for mine, theirs in zip(straight[:2], killed[:2]):  # weights, optimizer tensors
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert len(straight[2]) == 3 * 6 and torch.equal(straight[2], killed[2])
    assert straight[3:] == killed[3:]


def test_config_and_data_mistakes_are_one_error_line(tmp_path: Path) -> None:
    reference = tiny_reference(tmp_path)
    pairs = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs(8, seed=1))
    base = {"name": "bad", "runs_dir": str(tmp_path / "runs"),
            "preference": {"pairs": str(pairs), "reference": str(reference)}}
    bad_line = write_jsonl(tmp_path / "bad.jsonl", fixed_pairs(3, seed=1) + [{"prompt": "x", "chosen": 1}])
    cases = {
        "train.loss does not apply to a preference run": base | {"train": {"loss": "mse"}},
        "bad.jsonl line 4 has no 'rejected' key": base | {"preference": base["preference"] | {"pairs": str(bad_line)}},
        "preference.val 0.1 of 8 pairs leaves no pair to validate": base | {
            "preference": base["preference"] | {"val": 0.1}},
        "preference.reference must be a language-model run folder": base | {
            "preference": base["preference"] | {"reference": str(tmp_path)}},
        "preference.method must be 'dpo' or 'reward'; got 'ppo'": base | {"preference": base["preference"] | {"method": "ppo"}},
        "train.early_stopping.monitor must be one of train_loss, val_loss, val_pair_accuracy, val_perplexity": base | {
            "train": {"early_stopping": {"monitor": "val_accuracy"}}},
    }
    runner = CliRunner()
    for expected, cfg in cases.items():
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        result = runner.invoke(app, ["train", str(path), "--progress", "none"])
        assert result.exit_code == 2 and expected in result.output, (expected, result.output)
        assert result.output.startswith("error:") and "Traceback" not in result.output
    assert not (tmp_path / "runs" / "bad").exists()  # refused before a run folder is made

    class Crash(Callback):
        def on_batch_start(self, state) -> None:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        train_preference(base | {"name": "cut"}, progress="none", extra_callbacks=[Crash()])
    write_jsonl(pairs, fixed_pairs(8, seed=2))  # the user edits the pairs before resuming
    with pytest.raises(ConfigError, match="cannot resume .*cut: the pairs file or the reference run changed"):
        train_preference(base | {"name": "cut"}, progress="none", resume=True)


def test_every_train_field_acts_or_is_refused_by_name_before_anything_is_read(tmp_path: Path) -> None:
    from lamina.config import TrainSpec
    from lamina.lm.preference_run import ACTING, REFUSED

    assert set(ACTING) | set(REFUSED) == set(TrainSpec.model_fields) and not set(ACTING) & set(REFUSED)
    values = {"loss": "mae", "label_smoothing": 0.1, "huber_delta": 2.0, "epoch_metrics": ["accuracy"],
              "adversarial": {"method": "fgsm", "eps": 0.1}, "lr_groups": [{"layers": "0", "lr": 0.1}],
              "selfsup": {"method": "simclr"}, "augment": [{"noise": 0.1}], "compile": True, "diagnose": False,
              "diagnose_every": 5, "class_weight": "balanced", "log": ["mlflow"]}
    for method in ("dpo", "reward"):
        for field in REFUSED:  # the pairs and the reference do not exist: the field is refused first
            config = {"name": "x", "runs_dir": str(tmp_path), "train": {field: values[field]},
                      "preference": {"method": method, "pairs": "absent.jsonl", "reference": "absent"}}
            with pytest.raises(ConfigError, match=rf"train\.{field} does not apply to a preference run "
                                                  rf"\(preference.method: {method}\)"):
                train_preference(config, progress="none")
    assert not (tmp_path / "x").exists()
