"""Synthetic training data: samples from a VAE or GAN run, labelled by that run's judge classifier.

``data.synthetic: {run: PATH, n: 500}`` appends ``n`` generated examples to the training split only
(validation and test stay real). Samples are turned back into raw data units with the generator run's
preprocessing and then through the training run's own, so the two runs may scale inputs differently.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from lamina.config import SyntheticSpec
from lamina.data.prepare import Prepared, Split
from lamina.errors import ConfigError, DataError
from lamina.files import load_tensors
from lamina.nn.build import build_model


def labelled_samples(run_path: str, n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Draw ``n`` samples from a generator run: raw-unit inputs (n, *shape) and the judge's class names."""
    from lamina.generative.run import load_generative

    run = load_generative(run_path)
    if run.settings.model not in ("vae", "gan"):
        raise ConfigError(f"data.synthetic.run must be a vae or gan run; {run.folder.root} is a "
                          f"{run.settings.model} run")
    judge_file = run.folder.root / "judge.safetensors"
    classes = run.preprocessor.target.classes
    if not judge_file.is_file() or not classes:
        raise ConfigError(f"data.synthetic.run {run.folder.root} has no judge classifier (judge.safetensors), "
                          "so its samples have no labels; train it on a labelled multiclass dataset")
    prep = run.preprocessor.inputs
    judge = build_model(run.spec.model, tuple(prep.shape), len(classes)).model
    judge.load_state_dict(load_tensors(judge_file))
    with torch.no_grad():
        samples = run.model.sample(n, torch.Generator().manual_seed(seed))
        labels = [classes[i] for i in judge.eval()(samples).argmax(1).tolist()]
    raw = samples.flatten(1).double().numpy() * np.asarray(prep.divisor) + np.asarray(prep.offset)
    return raw.reshape(samples.shape).astype(np.float32), labels


def add_synthetic(data: Prepared, spec: SyntheticSpec) -> Prepared:
    """Return ``data`` with ``spec.n`` judge-labelled generated examples appended to its training split.

    The added rows carry source-row index -1, since no file row produced them.
    """
    raw, labels = labelled_samples(spec.run, spec.n, spec.seed)
    where = f"data.synthetic.run {spec.run}"
    target = data.preprocessor.target
    if data.task != "multiclass":
        raise DataError(f"{where}: synthetic labelled examples need a multiclass task; this run's is {data.task}")
    x = torch.from_numpy(data.preprocessor.inputs.transform_array(raw, where)).reshape(len(raw), *data.input_shape)
    y = torch.from_numpy(target.encode(np.asarray(labels), where)).to(data.train.y.dtype)
    train = Split(torch.cat([data.train.x, x.to(data.train.x.dtype)]), torch.cat([data.train.y, y]),
                  np.concatenate([data.train.rows, np.full(len(raw), -1, dtype=data.train.rows.dtype)]))
    return replace(data, train=train)
