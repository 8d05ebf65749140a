"""DPO on the builtin 'cheerful endings' task: the preferred property rises 30+ points, perplexity barely moves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lamina.lm.preference import CHEERFUL, GLOOMY, cheerful_task, corpus_text, is_cheerful


def test_the_property_is_checked_by_code() -> None:
    assert is_cheerful("sunny.") and is_cheerful(" merry. ") and not is_cheerful("grim.")
    assert not is_cheerful("sunnyx") and not is_cheerful("")
    lines = corpus_text(0, 400).splitlines()
    cheerful = sum(line.rstrip(".").split()[-1] in CHEERFUL for line in lines)
    assert 150 < cheerful < 250 and all(line.rstrip(".").split()[-1] in CHEERFUL + GLOOMY for line in lines)


@pytest.mark.slow
def test_dpo_raises_the_preferred_fraction_and_keeps_perplexity(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    result = cheerful_task(tmp_path, seed=0)
    print(result)
    assert result["reward_pair_accuracy"] >= 0.85  # measured 1.0 (32 held-out pairs)
    assert result["preferred_after"] >= result["preferred_before"] + 0.30  # measured 0.445 -> 0.93
    ratio = result["val_perplexity_tuned"] / result["val_perplexity_reference"]
    assert ratio <= 1.25, result  # measured 1.083 (1.334 -> 1.444)
