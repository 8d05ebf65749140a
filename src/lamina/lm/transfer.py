"""Text transfer learning: a classifier head on the pretrained MiniLM encoder, frozen or fine-tuned.

Frozen (``tune_blocks=0``): sentence embeddings are computed once and only a linear head
learns, which is fast and needs few labels. Fine-tuned: the top ``tune_blocks`` encoder
blocks learn too, at a smaller learning rate than the head, on texts tokenized once and cut
to each batch's longest. Both train through the one loop (:func:`lamina.train.loop.fit`)
with the :class:`Classify` step. Saved as safetensors (the head and any tuned blocks) plus
the class names in JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.config import TrainSpec
from lamina.data.prepare import Prepared, Split
from lamina.errors import DataError, RunFolderError
from lamina.files import load_tensors, read_json, save_tensors, write_json
from lamina.lm.encoder import MiniLM, SentenceEncoder
from lamina.train.loop import fit
from lamina.train.steps import Step

if TYPE_CHECKING:
    from lamina.train.loop import State


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


class TunedHead(nn.Module):
    """The encoder and the head as one module over packed token rows (B, 3, T): ids, attention mask, types."""

    def __init__(self, encoder: SentenceEncoder, head: nn.Linear) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        """Class scores (B, C) of the packed texts, cut to the batch's longest (padding is at the end)."""
        steps = int(packed[:, 1].sum(1).max())
        ids, mask, types = packed[:, :, :steps].unbind(1)  # each (B, T)
        return self.head(self.encoder(ids, mask, types))


class Classify(Step):
    """One batch of a text classifier: cross-entropy of the class scores of features or packed token rows."""

    def train_step(self, state: State, batch: tuple[Any, Any]) -> torch.Tensor:
        x, y = batch
        with state.autocast:
            scores = state.net(x)  # (B, C)
        loss = F.cross_entropy(scores.float(), y)
        state.update(loss)
        return loss


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
    groups = None
    if tune_blocks:
        encoder.model.blocks[blocks - tune_blocks :].requires_grad_(True)
        tuned = [p for p in encoder.model.parameters() if p.requires_grad]
        groups = [{"params": list(model.head.parameters()), "lr": lr}, {"params": tuned, "lr": encoder_lr}]
        net: nn.Module = TunedHead(encoder.model, model.head)
        x = torch.stack(encoder.tokenize(list(texts)), 1)  # (N, 3, T): tokenized once
    else:
        net, x = model.head, encoder.embed(list(texts))  # (N, D), computed once when frozen
    rows = Split(x, target, np.arange(len(x)))
    none = Split(x[:0], target[:0], np.arange(0))
    spec = TrainSpec(epochs=epochs, batch_size=batch_size, optimizer={"name": "adamw", "lr": lr, "weight_decay": 0.01},
                     tensorboard=False, diagnose=False)
    fit(net, Prepared(rows, none, none, None, "texts"), spec, [], encoder.device, seed=seed, groups=groups,
        step=Classify())
    encoder.model.eval()
    return model
