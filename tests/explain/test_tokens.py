"""`lamina explain` on a text run: attributions through the embedding, per token (issue 24, item 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.config import load_config
from lamina.data.synthetic import NEGATIVE_WORDS, POSITIVE_WORDS
from lamina.errors import ConfigError
from lamina.explain.run import explain_run
from lamina.files import read_json
from lamina.runs import Run
from lamina.trainer import train

ROOT = Path(__file__).resolve().parents[2]
DECISIVE = set(POSITIVE_WORDS + NEGATIVE_WORDS + ["not"])  # the words the reviews' labels are made of


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    runs = tmp_path_factory.mktemp("text")
    spec = load_config(ROOT / "examples" / "text_csv.yaml", ["train.epochs=8", f"runs_dir={runs}",
                                                             "train.tensorboard=false", "train.diagnose=false"])
    return train(spec, progress="none")


def test_integrated_gradients_per_token_point_at_the_opinion_words(text_run: Run) -> None:
    result = explain_run(text_run.folder.root, "ig", count=40)
    facts = result["facts"]
    assert facts["relative_error"] < 0.01  # attributions sum to f(x) - f(baseline)
    assert set(facts["targets"]) == {"pos"}  # a binary run's one logit is the positive class's
    top = [max(row, key=lambda t: abs(t["attribution"]))["token"] for row in facts["tokens"]]
    assert sum(word in DECISIVE for word in top) / len(top) >= 0.8, top  # measured 0.975 on the test split
    page = (text_run.folder.root / "explanations" / "integrated_gradients-tokens.html").read_text()
    assert page.count("<p><b>") == 40 and "background: rgba(" in page
    saved = read_json(text_run.folder.root / "explanations" / "integrated_gradients.json")
    assert saved["tokens"] == facts["tokens"] and len(saved["tokens"]) == 40


def test_token_saliency_and_unsupported_methods(text_run: Run) -> None:
    result = explain_run(text_run.folder.root, "saliency", count=4,
                         inputs=str(ROOT / "examples" / "data" / "reviews_new.csv"))  # raw text, tokenized as in training
    assert len(result["facts"]["tokens"]) == 4
    assert all(t["attribution"] >= 0 for row in result["facts"]["tokens"] for t in row)
    with pytest.raises(ConfigError, match="ig, saliency"):
        explain_run(text_run.folder.root, "gradcam", count=2)
