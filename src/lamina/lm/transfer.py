"""Text transfer learning: a classifier head on the pretrained MiniLM encoder, frozen or fine-tuned.

Frozen (``tune_blocks=0``): sentence embeddings are computed once and only a linear head
learns, which is fast and needs few labels. Fine-tuned: the top ``tune_blocks`` encoder
blocks learn too, at a smaller learning rate than the head. Saved as safetensors (the
head and any tuned blocks) plus the class names in JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lamina.errors import DataError, RunFolderError
from lamina.files import load_tensors, read_json, save_tensors, write_json
from lamina.lm.encoder import MiniLM


class TextClassifier:
    """MiniLM sentence embeddings followed by a linear layer over the classes."""

    def __init__(self, encoder: MiniLM, classes: list[str]) -> None:
        self.encoder = encoder
        self.classes = list(classes)
        self.head = nn.Linear(encoder.dim, len(classes))

    def logits(self, texts: Sequence[str], grad: bool = False) -> torch.Tensor:
        """Class scores (N, C); with ``grad`` the encoder's trainable blocks get gradients."""
        if grad:
            ids, mask, types = self.encoder.tokenize(list(texts))
            return self.head(self.encoder.model(ids, mask, types))
        with torch.no_grad():
            return self.head(self.encoder.embed(list(texts)))

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely class of each text."""
        return [self.classes[i] for i in self.logits(texts).argmax(-1).tolist()]

    def save(self, folder: str | Path) -> None:
        """Write head.safetensors (head and encoder weights that differ from the packaged ones) and classes.json."""
        folder = Path(folder)
        tuned = {f"encoder.{k}": v for k, v in self.encoder.model.state_dict().items()
                 if any(p.requires_grad for n, p in self.encoder.model.named_parameters() if n == k)}
        save_tensors(folder / "head.safetensors", {**{f"head.{k}": v for k, v in self.head.state_dict().items()}, **tuned})
        write_json(folder / "classes.json", {"classes": self.classes})

    @classmethod
    def load(cls, folder: str | Path) -> TextClassifier:
        """Rebuild a saved classifier on the packaged MiniLM."""
        folder = Path(folder)
        classes = read_json(folder / "classes.json").get("classes")
        if not isinstance(classes, list) or not classes:
            raise RunFolderError(f"{folder / 'classes.json'} must hold a non-empty list of class names")
        model = cls(MiniLM(), classes)
        weights = load_tensors(folder / "head.safetensors")
        try:
            model.head.load_state_dict({k[5:]: v for k, v in weights.items() if k.startswith("head.")})
            model.encoder.model.load_state_dict({k[8:]: v for k, v in weights.items() if k.startswith("encoder.")},
                                                strict=False)
        except RuntimeError as exc:
            raise RunFolderError(f"{folder / 'head.safetensors'} does not fit {len(classes)} classes: "
                                 f"{str(exc).splitlines()[0]}") from None
        return model


def fit_text_classifier(texts: Sequence[str], labels: Sequence[str], tune_blocks: int = 0, epochs: int = 60,
                        lr: float = 1e-2, encoder_lr: float = 2e-5, batch_size: int = 16, seed: int = 0,
                        encoder: MiniLM | None = None) -> TextClassifier:
    """Train a classifier on labelled texts: a linear head on frozen MiniLM, or also its top ``tune_blocks`` blocks."""
    if len(texts) != len(labels) or len(set(labels)) < 2:
        raise DataError(f"a text classifier needs one label per text and at least 2 classes; got {len(texts)} texts, "
                        f"{len(labels)} labels, {len(set(labels))} classes")
    encoder = encoder or MiniLM()
    blocks = len(encoder.model.blocks)
    if not 0 <= tune_blocks <= blocks:
        raise DataError(f"tune_blocks must be between 0 and {blocks}; got {tune_blocks}")
    torch.manual_seed(seed)
    model = TextClassifier(encoder, sorted(set(labels)))
    target = torch.tensor([model.classes.index(y) for y in labels])
    encoder.model.requires_grad_(False)
    groups = [{"params": model.head.parameters(), "lr": lr}]
    if tune_blocks:
        tuned = encoder.model.blocks[blocks - tune_blocks :]
        tuned.requires_grad_(True)
        groups.append({"params": tuned.parameters(), "lr": encoder_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    features = None if tune_blocks else encoder.embed(list(texts))  # (N, D), computed once when frozen
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(texts), generator=g).split(batch_size):
            if features is None:
                encoder.model.train()
                scores = model.logits([texts[i] for i in batch.tolist()], grad=True)
            else:
                scores = model.head(features[batch])
            loss = F.cross_entropy(scores, target[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    encoder.model.eval()
    return model
