"""Experiment tracking in MLflow (``train.log: [tensorboard, mlflow]``): opt-in, off by default.

Where the runs go is MLflow's own convention: the ``MLFLOW_TRACKING_URI`` environment variable (a
tracking server ``http://host:5000``, a database ``sqlite:///mlruns.db``, or a folder), else
MLflow's default ``./mlruns``; the experiment is ``MLFLOW_EXPERIMENT_NAME``, else the config's
``name``. Each lamina run is one MLflow run: the config as params (dotted paths), every epoch's
logs as metrics, and at the end the test metrics, the summary and the run folder's files as
artifacts. The MLflow run id is part of the checkpoint, so a resumed lamina run continues the
same MLflow run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import ConfigError
from lamina.train.callbacks import Callback

if TYPE_CHECKING:
    from lamina.train.loop import State

MAX_PARAM_LENGTH = 6000  # MLflow refuses longer param values
BATCH = 900  # MLflow takes at most 1000 entries per log_batch


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"train": {"epochs": 5}}`` -> ``{"train.epochs": "5"}``: the config as MLflow params (lists kept whole)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = str(value)[:MAX_PARAM_LENGTH]
    return out


def check_mlflow() -> None:
    """Refuse ``train.log: [mlflow]`` before anything is read or written when MLflow is not installed."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError("train.log names mlflow, which is not installed: pip install 'lamina[mlflow]'")


class MlflowLog(Callback):
    """Log the run to MLflow: params at the start, metrics each epoch, results and files at the end."""

    def __init__(self, config: dict[str, Any], run_name: str) -> None:
        check_mlflow()
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()
        self.config = config
        self.run_name = run_name
        self.run_id: str | None = None

    def on_train_start(self, state: State) -> None:
        if self.run_id is not None:  # resumed: the checkpoint brought the MLflow run back
            self.client.update_run(self.run_id, status="RUNNING")
            return
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or str(self.config.get("name", "lamina"))
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        self.run_id = self.client.create_run(experiment_id, run_name=self.run_name, tags={"lamina": "1"}).info.run_id
        self._log(params=flatten(self.config))

    def on_epoch_end(self, state: State) -> None:
        epoch = int(state.logs["epoch"])
        self._log(metrics={k: v for k, v in state.logs.items() if k != "epoch" and isinstance(v, (int, float))},
                  step=epoch)

    def finish(self, folder: Path, summary: dict[str, Any]) -> None:
        """After the run is written: its test metrics, and every file of the run folder as artifacts."""
        if self.run_id is None:
            return
        test = summary.get("test") or {}
        self._log(metrics={f"test_{k}": v for k, v in test.items() if isinstance(v, (int, float))}, step=0)
        self.client.log_artifacts(self.run_id, str(folder))
        self.client.set_terminated(self.run_id)

    def _log(self, params: dict[str, str] | None = None, metrics: dict[str, float] | None = None, step: int = 0) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        entries = [Param(k, v) for k, v in (params or {}).items()] + [
            Metric(k, float(v), now, step) for k, v in (metrics or {}).items()]
        for start in range(0, len(entries), BATCH):
            chunk = entries[start:start + BATCH]
            self.client.log_batch(self.run_id, params=[e for e in chunk if isinstance(e, Param)],
                                  metrics=[e for e in chunk if isinstance(e, Metric)])

    def state_dict(self) -> dict[str, Any]:
        """The MLflow run id, so a resumed run logs into the same MLflow run."""
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back the MLflow run id saved in the checkpoint."""
        self.run_id = state.get("run_id")
