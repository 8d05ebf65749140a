"""The README's Python section and serving example print what it says they print (issue 24, items 16 and 18)."""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

import lamina

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> lamina.Run:
    """The run of the README's Python section: examples/iris_mlp.yaml with train.epochs=30."""
    spec = lamina.load_config(ROOT / "examples" / "iris_mlp.yaml",
                              ["train.epochs=30", f"runs_dir={tmp_path_factory.mktemp('runs')}"])
    return lamina.fit(spec, progress="none")


def _close(got: dict, shown: dict) -> bool:
    return got.keys() == shown.keys() and all(
        got[k] == shown[k] if isinstance(shown[k], str) else abs(got[k] - shown[k]) <= 1e-3 for k in shown)


def test_python_section_prints_the_probabilities_it_shows(iris_run: lamina.Run) -> None:
    comment = re.search(r"print\(run\.predict\(np\.array\(\[\[5\.1, 3\.5, 1\.4, 0\.2\]\]\)\)\).*\n# (\[.*\])", README)
    shown = ast.literal_eval(comment.group(1).replace("...", ""))
    got = lamina.load_run(iris_run.folder.root).predict(np.array([[5.1, 3.5, 1.4, 0.2]]))
    assert len(got) == 1 and _close(got[0], shown[0]), (got, shown)


def test_serving_section_curl_request_gets_the_response_shown(iris_run: lamina.Run) -> None:
    from fastapi.testclient import TestClient

    from lamina.serve.app import create_app

    command = re.search(r"^curl .*?\n(?:\s+.*\n)*", README, re.M).group(0).replace("\\\n", " ")
    words = shlex.split(command)
    assert words[words.index("-X") + 1] == "POST" and any(w.endswith("/predict") for w in words)
    body = json.loads(words[words.index("-d") + 1])
    shown = json.loads(re.search(r"```json\n(\{\"predictions\".*?)\n```", README, re.S).group(1))
    reply = TestClient(create_app(iris_run.folder.root)).post("/predict", json=body)
    assert reply.status_code == 200, reply.text
    got = reply.json()["predictions"]
    assert len(got) == len(shown["predictions"]) and all(_close(g, s) for g, s in zip(got, shown["predictions"]))
