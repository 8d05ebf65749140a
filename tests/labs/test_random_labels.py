"""Lab 3 confirms its claim in quick mode: shuffled labels are memorized, test stays at chance, and it takes longer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lamina.labs.catalog import LabResult
from lamina.labs.random_labels import write_digits


def test_shuffled_labels_are_memorized_slowly_and_do_not_generalize(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("random_labels")
    assert result.verdict == "CONFIRMED", result.margin
    rows = {row["labels"]: row for row in result.table}
    assert rows["shuffled labels"]["train accuracy"] >= 0.99
    assert rows["shuffled labels"]["test accuracy"] < 0.2  # chance is 0.1
    assert rows["real labels"]["test accuracy"] > 0.9
    assert rows["shuffled labels"]["epochs to fit"] >= 2 * rows["real labels"]["epochs to fit"]
    assert (result.folder / "training_accuracy.png").read_bytes().startswith(b"\x89PNG")


def test_shuffled_file_keeps_images_and_label_counts_but_moves_the_labels(tmp_path) -> None:
    with np.load(write_digits(tmp_path / "real.npz", 300, None)) as real_file:
        real = {key: real_file[key] for key in ("x", "y")}
    with np.load(write_digits(tmp_path / "noise.npz", 300, shuffle_seed=0)) as noise_file:
        noise = {key: noise_file[key] for key in ("x", "y")}
    assert np.array_equal(real["x"], noise["x"]) and real["x"].shape == (300, 8, 8)
    assert np.array_equal(np.bincount(real["y"]), np.bincount(noise["y"]))
    assert (real["y"] == noise["y"]).mean() < 0.25  # a permutation leaves about one label in ten in place
