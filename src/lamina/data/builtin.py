"""Builtin datasets, bundled with scikit-learn so they work offline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lamina.registry import DATASETS


@dataclass
class ArrayData:
    """Raw arrays as loaded: ``x`` is (N, *sample_shape), ``y`` is (N,) labels or (N, k) values."""

    x: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list[str]
    target_names: list[str]
    class_names: list[str] | None = None
    vocab: list[str] | None = None  # x holds token ids into this vocabulary (index 0 is padding)
    sequence: bool = False  # samples are (steps, features) sequences, not images


def builtin(name: str) -> Callable[[Callable[[], ArrayData]], Callable[[], ArrayData]]:
    """Register a loader as the builtin dataset ``name``."""

    def decorate(fn: Callable[[], ArrayData]) -> Callable[[], ArrayData]:
        return DATASETS.add(name, fn)

    return decorate


def _classification(bunch, names: list[str] | None = None) -> ArrayData:
    classes = [str(c) for c in (names or bunch.target_names)]
    labels = np.asarray([classes[i] for i in bunch.target])
    return ArrayData(bunch.data.astype(np.float32), labels, "multiclass" if len(classes) > 2 else "binary",
                     list(map(str, bunch.feature_names)), ["target"], classes)


@builtin("digits")
def digits() -> ArrayData:
    """8x8 grey images of handwritten digits 0-9 (1,797 samples; sklearn)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data = _classification(bunch, [str(c) for c in bunch.target_names])
    data.x = bunch.images.astype(np.float32)  # (N, 8, 8)
    data.feature_names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return data


@builtin("iris")
def iris() -> ArrayData:
    """Iris flowers: 4 measurements, 3 species (150 samples; sklearn)."""
    from sklearn.datasets import load_iris

    return _classification(load_iris())


@builtin("wine")
def wine() -> ArrayData:
    """Wine chemistry: 13 measurements, 3 cultivars (178 samples; sklearn)."""
    from sklearn.datasets import load_wine

    return _classification(load_wine())


@builtin("breast_cancer")
def breast_cancer() -> ArrayData:
    """Breast cancer diagnosis: 30 cell-nucleus features, malignant or benign (569 samples; sklearn)."""
    from sklearn.datasets import load_breast_cancer

    return _classification(load_breast_cancer())


@builtin("diabetes")
def diabetes() -> ArrayData:
    """Diabetes progression after one year from 10 baseline variables (442 samples; regression; sklearn)."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    return ArrayData(bunch.data.astype(np.float32), bunch.target.astype(np.float64), "regression",
                     list(bunch.feature_names), ["progression"])
