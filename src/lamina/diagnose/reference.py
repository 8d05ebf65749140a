"""A cheap reference model fitted on the run's own split, so underfitting is judged against what is easy to reach.

An input-blind baseline (class priors) only catches a run that learned nearly
nothing; a 2-unit MLP at 41.5% on digits is far above chance and far below
what a linear model reaches on the same pixels. The reference is that linear
model (scikit-learn's ridge classifier for classes, ridge regression for
values: closed-form least squares, milliseconds on digits), fitted on at most ``MAX_ROWS`` training rows of the preprocessed,
flattened inputs and scored on the validation split with the metric the run
logs each epoch: ``val_accuracy``, or for values ``val_loss`` (the mean squared
error on the scaled targets, which is what the default regression loss logs;
``val_mse`` is in the target's own units).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

MAX_ROWS = 2000        # training rows the reference is fitted on (it must stay cheap)
MAX_FEATURES = 4096    # wider inputs (large images) get no reference


def linear_reference(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
                     task: str, default_loss: bool = True) -> dict[str, Any] | None:
    """Fit a linear model on the training rows and score it on the validation rows; None where it does not apply.

    Token ids (text), tasks other than binary, multiclass and regression, an
    empty validation split and inputs wider than ``MAX_FEATURES`` get none; so
    does regression trained with a loss other than the default mean squared error.
    """
    if task not in ("binary", "multiclass", "regression") or len(val_x) == 0 or not train_x.is_floating_point() \
            or task == "regression" and not default_loss:
        return None
    x = train_x[:MAX_ROWS].reshape(min(len(train_x), MAX_ROWS), -1).double().cpu().numpy()
    if x.shape[1] > MAX_FEATURES or not np.isfinite(x).all():
        return None
    xv = val_x.reshape(len(val_x), -1).double().cpu().numpy()
    y, yv = train_y[:MAX_ROWS].cpu().numpy(), val_y.cpu().numpy()
    started = time.perf_counter()
    if task == "regression":
        from sklearn.linear_model import Ridge

        model = Ridge(alpha=1.0).fit(x, y)
        metric, value = "val_loss", float(((model.predict(xv).reshape(yv.shape) - yv) ** 2).mean())
    else:
        from sklearn.linear_model import RidgeClassifier

        labels = y.reshape(-1).astype(int)
        if len(np.unique(labels)) < 2:
            return None
        model = RidgeClassifier(alpha=1.0).fit(x, labels)
        metric, value = "val_accuracy", float((model.predict(xv) == yv.reshape(-1).astype(int)).mean())
    name = type(model).__name__
    return {"model": name, "metric": metric, "value": value, "rows": len(x),
            "seconds": round(time.perf_counter() - started, 3)}
