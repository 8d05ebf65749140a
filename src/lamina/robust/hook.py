"""``train.adversarial``: adversarial training joins a run as a callback (see lamina.train.hooks)."""

from __future__ import annotations

from lamina.config import RunSpec
from lamina.data.prepare import Prepared
from lamina.errors import ConfigError
from lamina.robust.bounds import valid_range
from lamina.robust.training import adversarial_callback
from lamina.train.callbacks import Callback
from lamina.train.hooks import HOOKS, Hook, Setup


def adversarial_training(spec: RunSpec, data: Prepared) -> Callback:
    """The callback for ``train.adversarial``: attacks kept inside the valid range of the run's preprocessing."""
    if data.task == "regression":
        raise ConfigError("train.adversarial needs a classification task (binary or multiclass); got regression")
    bounds = valid_range(data.preprocessor, spec.data.scale, data.train.x)
    return adversarial_callback(spec.train.adversarial, bounds, spec.seed)


def add_adversarial_training(setup: Setup) -> None:
    """Train on attacked batches, as ``train.adversarial`` asks."""
    setup.callbacks.append(adversarial_training(setup.spec, setup.data))


HOOKS.add("train.adversarial", Hook("training", lambda spec: spec.train.adversarial is not None,
                                    add_adversarial_training))
