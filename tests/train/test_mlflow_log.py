"""``train.log: [tensorboard, mlflow]`` against a real MLflow tracking server on loopback (issue 23, item 5).

The test starts ``mlflow server`` as a process (sqlite backend, artifacts in a temporary folder),
trains a small run that logs to it, and reads params, per-epoch metrics, test metrics and
artifacts back through MLflow's own client.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.config import load_config
from lamina.errors import ConfigError

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'lamina[mlflow]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    """``mlflow server`` on a free loopback port, stopped afterwards."""
    port = _free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
               "--default-artifact-root", str(tmp_path / "artifacts"), "--workers", "1"]
    if shutil.which("gunicorn") is None and not _has_uvicorn():
        pytest.skip("mlflow server needs gunicorn or uvicorn")
    server = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(360):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not answer /health within 3 minutes")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


def _has_uvicorn() -> bool:
    import importlib.util

    return importlib.util.find_spec("uvicorn") is not None


@pytest.mark.slow
def test_a_run_logs_params_metrics_and_files_to_a_tracking_server(
        tracking_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    from lamina.trainer import train

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    spec = load_config({"name": "iris-tracked", "seed": 0, "runs_dir": str(tmp_path / "runs"),
                        "data": {"dataset": "iris", "split": {"val": 0.2, "test": 0.2, "seed": 0}},
                        "model": {"arch": "mlp", "hidden": [8]},
                        "train": {"epochs": 4, "batch_size": 16, "log": ["tensorboard", "mlflow"]}})
    run = train(spec, progress="none")
    client = MlflowClient(tracking_server)
    experiment = client.get_experiment_by_name("iris-tracked")
    [logged] = client.search_runs([experiment.experiment_id])
    assert logged.info.status == "FINISHED" and logged.info.run_name == run.folder.root.name
    assert logged.data.params["train.epochs"] == "4" and logged.data.params["model.hidden"] == "[8]"
    history = client.get_metric_history(logged.info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3, 4]
    summary = json.loads((run.folder.root / "summary.json").read_text())
    assert logged.data.metrics["test_accuracy"] == pytest.approx(summary["test"]["accuracy"])
    files = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"model.safetensors", "summary.json", "config.yaml", "report.html"} <= files
    assert any(f.startswith("tensorboard") for f in files)  # both trackers wrote


def test_tensorboard_switches_do_not_contradict() -> None:
    base = {"data": {"dataset": "iris"}, "model": {"arch": "mlp"}}
    assert load_config(base).train.loggers() == ["tensorboard"]
    assert load_config({**base, "train": {"tensorboard": False}}).train.loggers() == []
    assert load_config({**base, "train": {"log": ["mlflow"]}}).train.loggers() == ["mlflow"]
    with pytest.raises(ConfigError, match="train.tensorboard is false but train.log lists tensorboard"):
        load_config({**base, "train": {"tensorboard": False, "log": ["tensorboard"]}})


def test_mlflow_missing_is_refused_before_a_run_folder_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from lamina.trainer import train

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    spec = load_config({"name": "untracked", "runs_dir": str(tmp_path / "runs"), "data": {"dataset": "iris"},
                        "model": {"arch": "mlp", "hidden": [4]}, "train": {"epochs": 1, "log": ["mlflow"]}})
    with pytest.raises(ConfigError, match=r"train.log names mlflow, which is not installed: pip install 'lamina\[mlflow\]'"):
        train(spec, progress="none")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
