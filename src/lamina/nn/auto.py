"""``model.arch: auto``: pick a preset and its size from what the data is, so a first run needs no model section.

The choice depends only on facts the prepared data states (the input shape, whether inputs are token ids,
the task), so the same data always gets the same model, and a run folder records the concrete choice in its
config.yaml (the trainer replaces ``auto`` before saving). The rules, each small and stated in the reason:

* a table (one feature axis): an ``mlp`` whose first hidden layer is about four times the feature count
  (a power of two between 16 and 256); one hidden layer up to 16 features, a second of half the width beyond;
* token sequences as targets (seq2seq): the ``seq2seq`` Transformer;
* token ids (text): a ``sequence`` GRU for texts up to 128 tokens, a Transformer encoder beyond
  (recurrence over long texts is slow and forgets);
* a numeric sequence (steps, features): the ``forecaster`` for regression (series windows), a
  ``sequence`` GRU classifier otherwise;
* images (channels, height, width): a small ``cnn`` below 32 pixels a side, a ``resnet`` of one
  block per stage from 32 up (a stage per halving down to about 8 pixels, at most 4 stages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lamina.config import ModelSpec
from lamina.errors import ShapeError

LONG_TEXT = 128  # tokens: beyond this a Transformer encoder, up to it a GRU
FEW_FEATURES = 16  # table columns: up to this one hidden layer, beyond it two
SMALL_IMAGE = 32  # pixels a side: below this a plain CNN, from it a ResNet


@dataclass
class Choice:
    """The model ``auto`` picked: its section (as config.yaml holds it) and the reason, one line."""

    section: dict[str, Any]
    reason: str

    @property
    def spec(self) -> ModelSpec:
        """The chosen section as a validated model spec (every preset default filled in)."""
        return ModelSpec.model_validate(self.section)

    def line(self) -> str:
        """What the trainer and ``lamina summary`` print: the arch, its options and why."""
        options = ", ".join(f"{k}: {v}" for k, v in self.section.items() if k != "arch")
        return f"model: arch auto chose {self.section['arch']} ({options}) because {self.reason}"


def choose_model(input_shape: tuple[int, ...], vocab: int | None = None, task: str | None = None,
                 output_shape: tuple[int, ...] | None = None) -> Choice:
    """The preset and options ``model.arch: auto`` stands for on data of this shape (see the module docstring)."""
    shape = tuple(int(n) for n in input_shape)
    if task == "seq2seq" or (output_shape is not None and len(output_shape) == 2):
        return Choice({"arch": "seq2seq", "kind": "transformer", "dim": 64, "depth": 2, "heads": 4},
                      "the targets are token sequences (an encoder-decoder Transformer)")
    if vocab is not None:
        if shape[0] > LONG_TEXT:
            return Choice({"arch": "sequence", "cell": "transformer", "units": 64, "depth": 2, "heads": 4},
                          f"the inputs are texts of {shape[0]} tokens (over {LONG_TEXT}: a Transformer encoder)")
        return Choice({"arch": "sequence", "cell": "gru", "embed_dim": 32, "units": 32},
                      f"the inputs are texts of {shape[0]} tokens (up to {LONG_TEXT}: a GRU)")
    if len(shape) == 1:
        width = min(256, max(16, 1 << (4 * shape[0] - 1).bit_length()))
        deep = shape[0] > FEW_FEATURES
        layers = "two hidden layers" if deep else "one hidden layer"
        return Choice({"arch": "mlp", "hidden": [width, width // 2] if deep else [width]},
                      f"the inputs are a table of {shape[0]} features "
                      f"({'over' if deep else 'up to'} {FEW_FEATURES}: {layers})")
    if len(shape) == 2:
        if task in (None, "regression"):
            return Choice({"arch": "forecaster", "cell": "lstm", "units": 32},
                          f"the inputs are windows of {shape[0]} steps of {shape[1]} series to forecast")
        return Choice({"arch": "sequence", "cell": "gru", "units": 32},
                      f"the inputs are sequences of {shape[0]} steps of {shape[1]} features to classify")
    if len(shape) == 3:
        side = min(shape[1:])
        if side < SMALL_IMAGE:
            return Choice({"arch": "cnn", "channels": [32, 64], "dense": [128], "dropout": 0.2},
                          f"the inputs are {shape[1]}x{shape[2]} images (under {SMALL_IMAGE} pixels: a plain CNN)")
        stages, left = 1, side
        while left > 8 and stages < 4:
            stages, left = stages + 1, left // 2
        widths = [16 * 2**i for i in range(stages)]
        return Choice({"arch": "resnet", "stem": 16, "widths": widths, "blocks": [1] * stages},
                      f"the inputs are {shape[1]}x{shape[2]} images ({SMALL_IMAGE} pixels or more: a ResNet "
                      f"of {stages} stages)")
    raise ShapeError(f"model.arch 'auto' cannot pick a model for inputs shaped {shape}; "
                     "name a preset in model.arch or write model.layers")
