"""``data.synthetic``: a generative run's labelled samples join the training split (see lamina.train.hooks)."""

from __future__ import annotations

from lamina.generative.synthetic import add_synthetic
from lamina.train.hooks import HOOKS, Hook, Setup


def add_synthetic_rows(setup: Setup) -> None:
    """Add the samples of the generative run that ``data.synthetic`` names to the training data."""
    setup.data = add_synthetic(setup.data, setup.spec.data.synthetic)


HOOKS.add("data.synthetic", Hook("data", lambda spec: spec.data.synthetic is not None, add_synthetic_rows))
