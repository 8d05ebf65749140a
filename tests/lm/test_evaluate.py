"""``lamina evaluate`` on language-model, DPO and reward-model run folders: the figures training wrote, again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from lamina.cli import app
from lamina.evaluate.run import evaluate_run, run_kind
from lamina.lm.preference_run import train_preference
from lamina.runs import RunFolder
from tests.lm.test_preference_run import fixed_pairs, tiny_reference, write_jsonl


def test_evaluate_rescores_a_language_model_a_dpo_and_a_reward_run_from_their_folders(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = tiny_reference(tmp_path)
    pairs = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs(20, seed=1))
    runs = tmp_path / "runs"
    tuned = {method: train_preference({"name": method, "runs_dir": str(runs), "train": {"epochs": 1, "batch_size": 8},
                                       "preference": {"method": method, "pairs": str(pairs),
                                                      "reference": str(reference)}}, progress="none")
             for method in ("dpo", "reward")}

    report = evaluate_run(reference)
    summary = json.loads((reference / "summary.json").read_text())
    assert run_kind(RunFolder(reference)) == "language_model" and report["split"] == "val"
    for name in ("loss", "perplexity", "bits_per_char"):
        assert report["metrics"][name] == pytest.approx(summary["val"][name], abs=1e-6)
    assert report["samples"] == summary["tokens"]["val"]
    assert report["metrics"]["loss"] < summary["unigram_val_loss"] * 1.5  # a trained model, scored on the real text
    page = (reference / "report.html").read_text()  # report.html: the summary table, the curves, a sample
    assert f"{summary['val']['bits_per_char']:.4f}" in page and "figures/learning_curves.png" in page
    assert (reference / "figures" / "learning_curves.png").stat().st_size > 1000
    sample = page.split("<pre>")[1].split("</pre>")[0]
    assert len(sample) > 150  # the held-out prompt (16 characters) and 200 generated ones

    dpo = evaluate_run(tuned["dpo"])
    dpo_summary = json.loads((tuned["dpo"] / "summary.json").read_text())
    assert dpo["kind"] == "dpo" and dpo["samples"] == summary["tokens"]["val"]  # the reference's held-out text
    for name in ("loss", "perplexity", "bits_per_char"):
        assert dpo["metrics"][name] == pytest.approx(dpo_summary["val"][name], abs=1e-6)
    assert dpo["metrics"]["loss"] != report["metrics"]["loss"]  # the tuned weights are scored, not the reference's

    done = CliRunner().invoke(app, ["evaluate", str(tuned["reward"])])
    assert done.exit_code == 0, done.output
    reward = json.loads((tuned["reward"] / "evaluation.json").read_text())
    reward_summary = json.loads((tuned["reward"] / "summary.json").read_text())
    assert reward["kind"] == "reward" and reward["samples"] == 4  # preference.val 0.2 of 20 pairs
    assert reward["metrics"] == pytest.approx(reward_summary["val"], abs=1e-6)
    final = reward_summary["final_epoch"]  # the last epoch's validation, scored by the same function
    assert reward_summary["val"]["val_pair_accuracy"] == pytest.approx(final["val_pair_accuracy"])
    assert "val_pair_accuracy" in done.output and "scored: the validation pairs" in done.output


def test_train_diagnose_watches_a_language_model_and_writes_its_diagnosis(tmp_path: Path, capsys) -> None:
    from lamina.lm.train import train_lm
    from tests.conftest import shakespeare_slice

    text = shakespeare_slice(tmp_path, 20_000)
    folder = train_lm({"task": "language_model", "name": "d", "runs_dir": str(tmp_path / "runs"), "seed": 0,
                       "data": {"path": str(text)}, "model": {"layers": 1, "heads": 1, "width": 8, "context": 8},
                       "train": {"steps": 8, "eval_every": 4, "eval_batches": 1, "diagnose": True,
                                 "diagnose_every": 2}}, progress="none")
    monitor = json.loads((folder / "monitor.json").read_text())
    diagnosis = json.loads((folder / "diagnosis.json").read_text())
    assert diagnosis["epochs"] == 2 and diagnosis["samples"] == len(monitor["samples"]) == 8  # a short run: every step
    assert "embed" in monitor["layers"] and monitor["activations"]  # the token embedding and the GELUs are watched
    assert all(all(v > 0 for v in s["grad_norm"].values()) for s in monitor["samples"])
    summary = json.loads((folder / "summary.json").read_text())
    assert monitor["baseline_loss"] == pytest.approx(summary["unigram_val_loss"], rel=0.2)  # the unigram entropy
    assert [f["name"] for f in diagnosis["findings"]] == ["underfitting"]  # 8 steps do not beat the unigram model
    printed = capsys.readouterr().err  # the findings are printed; --remedy (supervised runs only) is not offered
    assert "underfitting" in printed and "--remedy" not in printed
    done = CliRunner().invoke(app, ["diagnose", str(folder)])  # re-read from the folder; the LM's report is kept
    assert done.exit_code == 0 and "underfitting" in done.output and "--remedy" not in done.output
    assert "figures/learning_curves.png" in (folder / "report.html").read_text()
