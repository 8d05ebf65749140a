"""lamina: a deep-learning workbench on PyTorch.

Describe a model by chaining layers (YAML or Python), train it with sound
defaults, evaluate it, and predict from its run folder::

    import lamina
    run = lamina.fit("examples/digits_cnn.yaml")       # or a dict, or a RunSpec
    print(lamina.evaluate_run(run)["metrics"])
    run = lamina.load_run(run.folder.root)
    rows = run.predict_file("new_digits.csv")
    run = lamina.fit({"model": {"arch": "mlp"}}, data=(X, y))   # NumPy arrays or a DataFrame, no file
    lamina.wait_for_reports()   # the report's figures are drawn in the background

``lamina.sklearn`` holds scikit-learn estimators (``Classifier``, ``Regressor``) over the same training.

The training function is ``fit`` because ``lamina.train`` is the training
subpackage (loop, optimizers, losses, callbacks). Heavy modules are imported
on first use, so ``import lamina`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "RunSpec": "lamina.config",
    "load_config": "lamina.config",
    "parse_run_spec": "lamina.config",
    "LaminaError": "lamina.errors",
    "ConfigError": "lamina.errors",
    "DataError": "lamina.errors",
    "ShapeError": "lamina.errors",
    "RunFolderError": "lamina.errors",
    "build_model": "lamina.nn.build",
    "prepare_data": "lamina.data.prepare",
    "fit": "lamina.trainer",
    "build": "lamina.trainer",
    "resume": "lamina.trainer",
    "load_run": "lamina.runs",
    "Run": "lamina.runs",
    "evaluate_run": "lamina.evaluate.run",
    "Callback": "lamina.train.callbacks",
    "StopTraining": "lamina.train.callbacks",
    "TrainingDiverged": "lamina.train.loop",
    "wait_for_reports": "lamina.report.background",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    """Import public names lazily (PEP 562) so the package import stays light."""
    if name in _EXPORTS:
        attribute = {"fit": "train"}.get(name, name)
        value = getattr(importlib.import_module(_EXPORTS[name]), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")
