"""The valid input range in model-input space, derived from a run's saved preprocessing.

An attack may only produce inputs that could have come out of the run's
preprocessing. For min-max scaling the raw range is stored in preprocess.json
(``offset`` is the training minimum, ``offset + divisor`` the maximum), so the
valid range is that raw range pushed through the same transform (for digits:
[0, 1]). Other scalings (standard, none) do not record a range, so the range
the training split actually spans after preprocessing is used.
"""

from __future__ import annotations

import torch

from lamina.data.preprocess import InputPrep, Preprocessor
from lamina.errors import DataError


def resolved_scale(inputs: InputPrep, scale: str) -> str:
    """The scaling preprocessing applied: ``data.scale`` with 'auto' resolved as prepare_data does."""
    if scale != "auto":
        return scale
    return "minmax" if inputs.kind == "array" and len(inputs.shape) >= 2 else "standard"


def valid_range(prep: Preprocessor, scale: str, train_x: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature (low, high) tensors shaped like one model input.

    ``scale`` is the run's ``data.scale``; ``train_x`` (the preprocessed training inputs) is needed
    only when the scaling does not record the raw range.
    """
    inputs = prep.inputs
    shape = tuple(inputs.shape)
    if resolved_scale(inputs, scale) == "minmax" and inputs.kind == "array":
        offset = torch.tensor(inputs.offset, dtype=torch.float64)
        divisor = torch.tensor(inputs.divisor, dtype=torch.float64)
        raw_low, raw_high = offset, offset + divisor  # the training minimum and maximum
        low, high = (raw_low - offset) / divisor, (raw_high - offset) / divisor
        return low.float().reshape(shape), high.float().reshape(shape)
    if train_x is None or len(train_x) == 0:
        raise DataError("the valid input range of this scaling is read from the training inputs; the training split is empty")
    flat = train_x.detach().float().reshape(len(train_x), -1)
    if len(shape) >= 2:  # images share one range across pixels
        low, high = flat.min().expand(flat.shape[1]), flat.max().expand(flat.shape[1])
    else:
        low, high = flat.min(dim=0).values, flat.max(dim=0).values
    return low.reshape(shape).clone(), high.reshape(shape).clone()
