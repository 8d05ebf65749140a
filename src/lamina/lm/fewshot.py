"""Zero-shot and few-shot text classification by sentence-embedding similarity.

Zero-shot: each class is a sentence describing it; a text gets the class whose
description embedding is closest (cosine). Few-shot: each class is the mean embedding
(prototype) of its k labelled examples; a text gets the nearest prototype. No weights change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from lamina.errors import DataError

Embed = Callable[[list[str]], torch.Tensor]  # texts -> (N, D) unit vectors, e.g. MiniLM().embed


def similarity(vectors: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each vector (N, D) to each anchor (C, D): (N, C)."""
    v = torch.nn.functional.normalize(vectors, dim=-1)
    a = torch.nn.functional.normalize(anchors, dim=-1)
    return v @ a.T  # (N, C)


def nearest(vectors: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Index of the most cosine-similar anchor (C, D) for each vector (N, D)."""
    return similarity(vectors, anchors).argmax(-1)  # (N,)


def zero_shot_scores(embed: Embed, texts: Sequence[str], descriptions: dict[str, str]
                     ) -> tuple[list[str], torch.Tensor]:
    """Class names and each text's cosine similarity to each class description (N, C)."""
    if not descriptions:
        raise DataError("zero-shot classification needs at least one class description")
    names = list(descriptions)
    return names, similarity(embed(list(texts)), embed([descriptions[n] for n in names]))


def zero_shot(embed: Embed, texts: Sequence[str], descriptions: dict[str, str]) -> list[str]:
    """The class of each text whose description (``{class: sentence}``) is most similar to it."""
    names, scores = zero_shot_scores(embed, texts, descriptions)
    return [names[i] for i in scores.argmax(-1).tolist()]


def prototypes(embed: Embed, texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], torch.Tensor]:
    """Class names and their prototypes (C, D): the normalized mean embedding of each class's examples."""
    if len(texts) != len(labels) or not texts:
        raise DataError(f"few-shot examples need one label per text; got {len(texts)} texts and {len(labels)} labels")
    vectors = embed(list(texts))  # (N, D)
    names = sorted(set(labels))
    means = torch.stack([vectors[[i for i, y in enumerate(labels) if y == n]].mean(0) for n in names])  # (C, D)
    return names, torch.nn.functional.normalize(means, dim=-1)


def few_shot_scores(embed: Embed, support: Sequence[tuple[str, str]], texts: Sequence[str]
                    ) -> tuple[list[str], torch.Tensor]:
    """Class names and each text's cosine similarity to each class prototype (N, C), built from ``support``."""
    names, protos = prototypes(embed, [t for t, _ in support], [y for _, y in support])
    return names, similarity(embed(list(texts)), protos)


def few_shot(embed: Embed, support: Sequence[tuple[str, str]], texts: Sequence[str]) -> list[str]:
    """The class of each text by its nearest prototype, built from ``support`` (text, label) pairs."""
    names, scores = few_shot_scores(embed, support, texts)
    return [names[i] for i in scores.argmax(-1).tolist()]


def k_shot_split(pairs: Sequence[tuple[str, str]], k: int, seed: int = 0
                 ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``k`` random examples per class as the support set, the rest as the query set."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(pairs), generator=g).tolist()
    taken: dict[str, int] = {}
    support, query = [], []
    for i in order:
        label = pairs[i][1]
        if taken.get(label, 0) < k:
            taken[label] = taken.get(label, 0) + 1
            support.append(pairs[i])
        else:
            query.append(pairs[i])
    short = [name for name, n in taken.items() if n < k]
    if short:
        raise DataError(f"{k}-shot needs {k} examples of every class; too few of {', '.join(short)}")
    return support, query


def accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Fraction of predictions equal to the truth."""
    return sum(p == t for p, t in zip(predicted, truth)) / max(1, len(truth))
