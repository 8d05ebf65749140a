"""The builtin preference task: its preferred property is checked by code, its corpus balanced."""

from __future__ import annotations

from lamina.lm.cheerful import CHEERFUL, GLOOMY, corpus_text, held_out_prompts, is_cheerful, pair_prompts


def test_the_property_is_checked_by_code() -> None:
    assert is_cheerful("sunny.") and is_cheerful(" merry. ") and not is_cheerful("grim.")
    assert not is_cheerful("sunnyx") and not is_cheerful("")
    lines = corpus_text(0, 400).splitlines()
    cheerful = sum(line.rstrip(".").split()[-1] in CHEERFUL for line in lines)
    assert 150 < cheerful < 250 and all(line.rstrip(".").split()[-1] in CHEERFUL + GLOOMY for line in lines)


def test_held_out_prompts_are_unseen() -> None:
    held = held_out_prompts(0, 200)
    assert len(held) == 200 and not set(held) & set(pair_prompts(0))
