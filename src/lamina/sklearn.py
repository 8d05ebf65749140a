"""scikit-learn estimators over lamina: ``Classifier`` and ``Regressor``.

They follow scikit-learn's conventions (parameters stored untouched by ``__init__``,
``get_params``/``set_params``, ``fit``/``predict``/``predict_proba``/``score``, ``classes_``,
``n_features_in_``), so they work inside ``Pipeline``, ``cross_val_score`` and ``GridSearchCV``.
Each ``fit`` trains a lamina run quietly (no progress, no report, no TensorBoard, no diagnosis)
in a temporary folder that is removed afterwards; ``save(folder)`` writes a real run folder
(config.yaml, preprocess.json, model.safetensors, plus sklearn.json) and ``load(folder)`` reads
it back, with nothing pickled.

Constructor arguments and the config paths they set:

============== =============================== =========================================
argument       config path                     default
============== =============================== =========================================
arch           model.arch                      "mlp"
hidden         model.hidden                    None (the preset's own: mlp [128, 64])
dropout        model.dropout                   None (the preset's own: 0)
epochs         train.epochs                    30
batch_size     train.batch_size                32
lr             train.optimizer.lr              0.001
optimizer      train.optimizer.name            "adam"
weight_decay   train.optimizer.weight_decay    0.0
val            data.split.val                  0.0 (every row trains; no early stopping)
seed           seed and data.split.seed        0
device         train.device                    "cpu"
config         any other keys, as a dict       None
============== =============================== =========================================

``config`` is a dict of config sections (``{"train": {"loss": "huber"}}``) laid under the
arguments above, for every setting without an argument of its own. Fixed by the estimator:
data.split.test is 0 (scikit-learn does the held-out scoring), train.restore_best is false
(the last epoch's weights), and the task is set by the estimator (classes or regression).

scikit-learn is a base dependency of lamina, so nothing extra needs installing.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from lamina.errors import RunFolderError

ESTIMATOR_FILE = "sklearn.json"


class _LaminaEstimator(BaseEstimator):
    """What Classifier and Regressor share: the config they build, training, saving and loading."""

    _task_kind = ""  # "classifier" | "regressor"

    def __init__(self, arch: str = "mlp", hidden: tuple[int, ...] | None = None, dropout: float | None = None,
                 epochs: int = 30, batch_size: int = 32, lr: float = 1e-3, optimizer: str = "adam",
                 weight_decay: float = 0.0, val: float = 0.0, seed: int = 0, device: str = "cpu",
                 config: dict[str, Any] | None = None) -> None:
        self.arch = arch
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.val = val
        self.seed = seed
        self.device = device
        self.config = config

    def run_config(self, task: str) -> dict[str, Any]:
        """The lamina config these parameters describe (see the module docstring for the mapping)."""
        base = copy.deepcopy(self.config or {})
        model = {**base.get("model", {}), "arch": self.arch}
        if self.hidden is not None:
            model["hidden"] = [int(units) for units in self.hidden]
        if self.dropout is not None:
            model["dropout"] = float(self.dropout)
        train = base.get("train", {})
        optimizer = {**train.get("optimizer", {}), "name": self.optimizer, "lr": float(self.lr),
                     "weight_decay": float(self.weight_decay)}
        data = base.get("data", {})
        split = {**data.get("split", {}), "val": float(self.val), "test": 0.0, "seed": int(self.seed)}
        return {**base, "name": "sklearn", "seed": int(self.seed), "model": model,
                "data": {**data, "task": task, "split": split},
                "train": {**train, "epochs": int(self.epochs), "batch_size": int(self.batch_size), "optimizer": optimizer,
                          "device": self.device, "restore_best": False, "tensorboard": False, "diagnose": False}}

    def _train(self, x: np.ndarray, y: np.ndarray, task: str) -> None:
        """Train a lamina run on (x, y) in a temporary folder and keep the loaded model (``run_``)."""
        from lamina.runs import load_run
        from lamina.trainer import train

        with tempfile.TemporaryDirectory(prefix="lamina-sklearn-") as folder:
            spec = {**self.run_config(task), "runs_dir": folder}
            run = train(spec, progress="none", data=(x, y), report=False)
            self.run_ = load_run(run.folder.root, device=self.device)
            self.run_.folder = None  # the temporary folder is gone; save() writes a new one

    def _values(self, x: Any) -> np.ndarray:
        """Class probabilities (N, classes in lamina's order) or values (N, targets) for raw ``x``."""
        from lamina.runs import prediction_values

        check_is_fitted(self)
        x = validate_data(self, x, reset=False, dtype=np.float32)
        inputs = self.run_.preprocessor.inputs.transform_array(x, "X")
        return prediction_values(self.run_.outputs(inputs), self.run_.preprocessor.target)

    def save(self, folder: str | Path) -> Path:
        """Write the fitted estimator as a lamina run folder (``lamina predict FOLDER file.csv`` works on it).

        Weights are safetensors and everything else JSON or YAML, so loading it runs no pickled code.
        """
        from lamina.config import save_config
        from lamina.files import save_tensors, write_json
        from lamina.runs import RunFolder

        check_is_fitted(self)
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        paths = RunFolder(root)
        save_config(self.run_.spec, paths.config)
        write_json(paths.preprocess, self.run_.preprocessor.to_json())
        save_tensors(paths.weights, self.run_.model.state_dict())
        write_json(root / ESTIMATOR_FILE, {"estimator": type(self).__name__, "params": _json_params(self.get_params()),
                                           "n_features_in": int(self.n_features_in_), **self._extra_state()})
        return root

    @classmethod
    def load(cls, folder: str | Path) -> _LaminaEstimator:
        """Read an estimator written by :meth:`save` (nothing unpickled)."""
        from lamina.files import read_json
        from lamina.runs import load_run

        path = Path(folder) / ESTIMATOR_FILE
        if not path.is_file():
            raise RunFolderError(f"{folder} holds no {ESTIMATOR_FILE}; it was not written by {cls.__name__}.save")
        state = read_json(path)
        if state.get("estimator") != cls.__name__:
            raise RunFolderError(f"{path} holds a {state.get('estimator')}, not a {cls.__name__}")
        params = state["params"]
        if params.get("hidden") is not None:
            params["hidden"] = tuple(params["hidden"])
        estimator = cls(**params)
        estimator.run_ = load_run(folder, device=params.get("device", "cpu"))
        estimator.n_features_in_ = state["n_features_in"]
        estimator._restore_state(state)
        return estimator

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _restore_state(self, state: dict[str, Any]) -> None:
        """Set the fitted attributes that sklearn.json keeps beyond the parameters."""


class Classifier(ClassifierMixin, _LaminaEstimator):
    """A lamina network as a scikit-learn classifier (labels of any kind scikit-learn accepts)."""

    def fit(self, X: Any, y: Any) -> Classifier:
        """Train on X (n_samples, n_features) and class labels y; returns self."""
        x, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"Classifier needs at least two classes in y; got 1 class ({self.classes_[0]!r})")
        names = np.asarray([str(c) for c in self.classes_])
        if len(set(names.tolist())) != len(names):
            raise ValueError(f"the class labels {self.classes_.tolist()[:5]} are not told apart once written as text")
        self._train(x, names[codes], "binary" if len(self.classes_) == 2 else "multiclass")
        order = self.run_.preprocessor.target.classes
        self.class_order_ = np.asarray([order.index(name) for name in names])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self)
        return self._values(X)[:, self.class_order_]

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample (an item of ``classes_``)."""
        probabilities = self.predict_proba(X)  # first: an unfitted estimator raises NotFittedError there
        return self.classes_[np.argmax(probabilities, axis=1)]

    def _extra_state(self) -> dict[str, Any]:
        return {"classes": self.classes_.tolist(), "classes_dtype": self.classes_.dtype.str}

    def _restore_state(self, state: dict[str, Any]) -> None:
        """Set ``classes_`` (with its dtype) and the column order of lamina's class probabilities."""
        self.classes_ = np.asarray(state["classes"], dtype=np.dtype(state["classes_dtype"]))
        order = self.run_.preprocessor.target.classes
        self.class_order_ = np.asarray([order.index(str(c)) for c in self.classes_])


class Regressor(RegressorMixin, _LaminaEstimator):
    """A lamina network as a scikit-learn regressor (one target, or several as columns of y)."""

    def fit(self, X: Any, y: Any) -> Regressor:
        """Train on X (n_samples, n_features) and numeric y (n_samples,) or (n_samples, n_targets); returns self."""
        x, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True, multi_output=True)
        self._train(x, np.asarray(y, dtype=np.float64), "regression")
        self.n_targets_ = 1 if y.ndim == 1 else y.shape[1]
        self.output_2d_ = y.ndim == 2
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values: (n_samples,) for one target fitted as a vector, else (n_samples, n_targets)."""
        values = self._values(X)
        return values if self.output_2d_ else values[:, 0]

    def __sklearn_tags__(self):
        """Declare that several targets (y with columns) are supported."""
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _extra_state(self) -> dict[str, Any]:
        return {"n_targets": self.n_targets_, "output_2d": self.output_2d_}

    def _restore_state(self, state: dict[str, Any]) -> None:
        """Set the number of targets and whether predictions are returned as columns."""
        self.n_targets_ = state["n_targets"]
        self.output_2d_ = state["output_2d"]


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters as JSON data (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
