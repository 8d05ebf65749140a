"""Vision transformer preset: patch embedding, position table, Transformer encoder blocks, pooled head."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from lamina.errors import ShapeError
from lamina.nn.models.preset import Chain, Options, preset


class ViTOptions(Options):
    patch: int = Field(2, gt=0)
    dim: int = Field(64, gt=0)
    depth: int = Field(4, gt=0)
    heads: int = Field(4, gt=0)
    ff: int | None = Field(None, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    norm: Literal["pre", "post"] = "pre"
    pool: Literal["cls", "mean"] = "cls"
    stem: list[PositiveInt] = Field(default_factory=list)


@preset("vit", ViTOptions, {"data": {"dataset": "digits", "view": "image"},
                            "model": {"arch": "vit", "dim": 32, "depth": 2, "heads": 2, "dropout": 0.0},
                            "train": {"batch_size": 32}})
def vit(o: ViTOptions, input_shape: tuple[int, ...], n_outputs: int) -> Chain:
    """Vision transformer: patches (optionally after a conv stem) -> [class token] -> learned positions -> blocks."""
    if len(input_shape) != 3:
        raise ShapeError(f"model.arch 'vit' needs (channels, height, width) input; got {input_shape}. "
                         "For builtin image sets set data.view: image.")
    chain: Chain = [{"patch_embedding": {"dim": o.dim, "patch": o.patch, "stem": o.stem}}]
    if o.pool == "cls":
        chain.append("class_token")
    chain.append({"positional": "learned"})
    if o.dropout:
        chain.append({"dropout": o.dropout})
    block = {"heads": o.heads, "ff": o.ff, "dropout": o.dropout, "norm": o.norm}
    chain += [{"transformer_block": block} for _ in range(o.depth)]
    chain += [{"seqpool": "first" if o.pool == "cls" else "mean"}, "layernorm", {"dense": n_outputs}]
    return chain
