"""``lamina evaluate`` on a generative run folder: its test figures recomputed from the folder alone.

An autoencoder, denoising autoencoder or VAE is scored by its test reconstruction MSE (beside PCA's at
the same code size) and, with ``generative.normal_classes``, by the anomaly AUROC and its report; a VAE
or GAN trained on labelled data is also scored by the judge's class coverage of its seeded samples.
These are the figures training wrote into summary.json, computed by the same functions.
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.data.prepare import prepare_data
from lamina.evaluate.run import RUN_KINDS, RunKind, raw_config
from lamina.files import load_tensors
from lamina.generative.judge import coverage
from lamina.generative.run import _normal_indices, autoencoder_scores, load_generative
from lamina.nn.build import build_model
from lamina.nn.models.autoencoder import AutoEncoder
from lamina.runs import RunFolder


def is_generative_run(folder: RunFolder) -> bool:
    """Whether the folder's config.yaml has a generative: section."""
    raw = raw_config(folder)
    return isinstance(raw.get("generative"), dict)


def evaluate_generative(folder: RunFolder) -> dict[str, Any]:
    """Re-score a generative run on its test split (validation when it has none); returns the report."""
    run = load_generative(folder.root)
    g, metrics = run.settings, {}
    data = prepare_data(run.spec.data, fitted=run.preprocessor)
    test, split = (data.test, "test") if len(data.test) else (data.val, "val")
    scored = []
    if isinstance(run.model, AutoEncoder):
        scores = autoencoder_scores(run.model, data, _normal_indices(g, data), g, test)
        metrics |= {"test_mse": scores["test_mse"], "pca_test_mse": scores["pca_test_mse"]}
        scored.append(f"reconstruction MSE of the {split} split")
        if "anomaly" in scores:
            metrics |= {"anomaly_auroc": scores["anomaly"]["auroc"], "anomaly_auprc": scores["anomaly"]["auprc"],
                        "pca_anomaly_auroc": scores["pca_anomaly"]["auroc"]}
            scored.append("anomaly AUROC (generative.normal_classes are normal)")
    judge_file = folder.root / "judge.safetensors"
    classes = run.preprocessor.target.classes
    if judge_file.is_file() and classes:
        judge = build_model(run.spec.model, tuple(run.preprocessor.inputs.shape), len(classes)).model
        judge.load_state_dict(load_tensors(judge_file))
        samples = run.model.sample(g.samples, torch.Generator().manual_seed(run.spec.seed))
        found = coverage(judge.eval(), samples, classes, g.min_share)
        metrics |= {"classes_covered": found.covered, "coverage_entropy": found.to_json()["entropy"]}
        scored.append(f"the judge's class coverage of {g.samples} samples (seed {run.spec.seed})")
    if not scored:
        scored.append("nothing: a GAN without class labels has no judge and no test figure")
    return {"kind": g.model, "split": split, "samples": len(test), "metrics": metrics, "scored": "; ".join(scored)}


RUN_KINDS.add("generative", RunKind(is_generative_run, evaluate_generative),
              "autoencoder, denoising, VAE, GAN: test reconstruction MSE, anomaly AUROC, judge coverage")
