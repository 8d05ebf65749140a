"""Attack a trained run over a sweep of eps: accuracy table, JSON report and example figure.

The split (test by default) is rebuilt from the run's config and transformed
with its saved preprocessing; attacks stay inside the valid range derived from
preprocess.json (:mod:`lamina.robust.bounds`). Results go to the run folder as
``attack-<method>-<norm>.json`` and ``figures/attack-<method>-<norm>.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal

import torch
from pydantic import Field, model_validator

from lamina.config import Options
from lamina.data.prepare import prepare_data
from lamina.errors import ConfigError
from lamina.files import write_json
from lamina.robust.attacks import NORMS, check_attack, fgsm, pgd
from lamina.robust.bounds import valid_range
from lamina.runs import PREDICT_BATCH, Run, load_run

METHODS = ("fgsm", "pgd")
SPLITS = ("train", "val", "test")


class AttackSettings(Options):
    """One attack configuration, applied at every eps of the sweep."""

    method: Literal[METHODS] = "pgd"
    eps: list[float] = Field(default_factory=lambda: [0.05, 0.1, 0.15, 0.2], min_length=1)
    norm: Literal[NORMS] = "linf"
    steps: int = Field(20, ge=1)
    step_size: float | None = Field(None, gt=0)
    random_start: bool | None = None  # None: pgd starts at random, fgsm does not
    target: str | None = None
    split: Literal[SPLITS] = "test"
    examples: int = Field(4, ge=0)
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _every_eps_can_run(self) -> AttackSettings:
        for eps in self.eps:
            check_attack(eps, self.steps, self.norm)
        return self

    def check(self, classes: list[str]) -> None:
        """Refuse a target that is not one of the attacked run's classes (known only once the run is open)."""
        if self.target is not None and self.target not in classes:
            raise ConfigError(f"target must be one of the run's classes {', '.join(classes)}; got {self.target!r}")


def attack_run(run: Run | str | Path, settings: AttackSettings | None = None,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Attack ``run`` at each eps of ``settings``; return (and save) clean and adversarial accuracy.

    Untargeted attacks report accuracy under attack; targeted ones (``target``, a class name)
    also report how often samples of other classes were pushed to the target.
    """
    run = run if isinstance(run, Run) else load_run(run)
    settings = settings or AttackSettings()
    if run.task == "regression":
        raise ConfigError("attack needs a classification run (binary or multiclass); this run is regression")
    prep = run.preprocessor
    settings.check(prep.target.classes)
    data = prepare_data(run.spec.data, fitted=prep)
    part = getattr(data, settings.split)
    if len(part) == 0:
        raise ConfigError(f"split {settings.split} is empty for this run; choose another split")
    bounds = valid_range(prep, run.spec.data.scale, data.train.x)
    model = run.model.eval()
    device = next(model.parameters()).device
    x, y = part.x.to(device), part.y.to(device)
    labels = y.reshape(-1).long()
    clean_probs = probabilities(model, x)
    rows = []
    shown: dict[str, Any] = {}
    for eps in settings.eps:
        adv = attack_split(model, x, y, eps, settings, bounds, prep.target.classes)
        probs = probabilities(model, adv)
        row = {"eps": eps, "accuracy": accuracy(probs, labels),
               "max_perturbation": float((adv - x).flatten(1).norm(p=float("inf") if settings.norm == "linf" else 2,
                                                                   dim=1).max())}
        if settings.target is not None:
            t = prep.target.classes.index(settings.target)
            others = labels != t
            row["target_hit_rate"] = float((probs.argmax(1)[others] == t).float().mean()) if others.any() else 0.0
        rows.append(row)
        shown = {"eps": eps, "adv": adv, "probs": probs}
        if progress is not None:
            progress(f"eps {eps:g}: accuracy {row['accuracy']:.4f}")
    report = {
        "run": str(run.folder.root), "split": settings.split, "samples": len(part), "method": settings.method,
        "norm": settings.norm, "steps": 1 if settings.method == "fgsm" else settings.steps,
        "step_size": settings.step_size, "random_start": settings.random_start if settings.random_start is not None else settings.method == "pgd", "target": settings.target,
        "valid_range": [float(bounds[0].min()), float(bounds[1].max())],
        "clean_accuracy": accuracy(clean_probs, labels), "results": rows,
    }
    name = f"attack-{settings.method}-{settings.norm}"
    if settings.examples:
        from lamina.robust.figure import save_triplets

        figure = run.folder.root / "figures" / f"{name}.png"
        save_triplets(figure, x, shown["adv"], clean_probs, shown["probs"], labels, prep.target.classes,
                      shown["eps"], settings.examples, tuple(prep.inputs.shape))
        report["figure"] = str(figure)
    report["report"] = str(run.folder.root / f"{name}.json")
    write_json(Path(report["report"]), report)
    return report


def attack_split(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, settings: AttackSettings,
                 bounds: tuple[torch.Tensor, torch.Tensor], classes: list[str]) -> torch.Tensor:
    """Adversarial versions of ``x`` at ``eps``, attacked in chunks of PREDICT_BATCH samples."""
    generator = torch.Generator().manual_seed(settings.seed)
    if settings.target is not None:
        t = classes.index(settings.target)
        y = torch.full_like(y, t) if y.dim() == 1 else torch.full_like(y, float(t))
    chunks = []
    for start in range(0, len(x), PREDICT_BATCH):
        xb, yb = x[start : start + PREDICT_BATCH], y[start : start + PREDICT_BATCH]
        random_start = settings.random_start if settings.random_start is not None else settings.method == "pgd"
        common = dict(norm=settings.norm, targeted=settings.target is not None, random_start=random_start,
                      step_size=settings.step_size, bounds=bounds, generator=generator)
        if settings.method == "fgsm":
            chunks.append(fgsm(model, xb, yb, eps, **common))
        else:
            chunks.append(pgd(model, xb, yb, eps, steps=settings.steps, **common))
    return torch.cat(chunks)


@torch.no_grad()
def probabilities(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class probabilities (N, classes): softmax of logits, or [1-p, p] for one binary logit."""
    outputs = torch.cat([model(x[s : s + PREDICT_BATCH]) for s in range(0, len(x), PREDICT_BATCH)]).float()
    if outputs.shape[1] == 1:
        p = outputs[:, 0].sigmoid()
        return torch.stack([1 - p, p], dim=1)
    return outputs.softmax(dim=1)


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of samples whose most probable class is the label."""
    return float((probs.argmax(1) == labels).float().mean()) if len(labels) else 0.0


def parse_eps(values: list[str]) -> list[float]:
    """eps values from the command line: repeated options and/or comma-separated lists ('0.05,0.1')."""
    out = []
    for value in values:
        for part in str(value).split(","):
            if not part.strip():
                continue
            try:
                out.append(float(part))
            except ValueError:
                raise ConfigError(f"eps must be numbers such as 0.1 or 0.05,0.1,0.2; got {part.strip()!r}") from None
    return out
