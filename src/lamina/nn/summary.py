"""A Keras-style model summary: one row per layer with output shape and parameter count."""

from __future__ import annotations

import re

from lamina.nn.build import Built


def summary_rows(built: Built, input_shape: tuple[int, ...]) -> list[tuple[str, str, str, str]]:
    """Rows of (index, layer, output shape, params) including an input row, nested layers indented."""
    rows = [("", "input", _shape(input_shape), "0")]
    for info in built.rows:
        found = re.search(r"\[(\d+)\] \(", info.path) if info.depth == 0 else None
        index = found.group(1) if found else ""
        rows.append((index, "  " * info.depth + info.name, _shape(info.output_shape), f"{info.params:,}"))
    return rows


def _shape(shape: tuple[int, ...]) -> str:
    return "(B, " + ", ".join(str(d) for d in shape) + ")"
