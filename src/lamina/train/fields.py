"""Which train fields a model family uses: each one acts in it, or a config that sets it is refused before training.

Each family lists the TrainSpec fields it cannot use with the reason (``REFUSED`` beside its
trainer); everything else acts through the one loop or the family's trainer. A field counts as
set when the config names it (a default is not the user's request), so a resolved config.yaml
written without the refused fields trains again as it is.
"""

from __future__ import annotations

from lamina.config import TrainSpec
from lamina.errors import ConfigError


def refuse_train_fields(train: TrainSpec, refused: dict[str, str], family: str, where: str) -> None:
    """Raise a ConfigError naming the first field of ``refused`` that ``train`` sets, the family and why.

    ``where`` says what makes the run this family (e.g. ``model.arch: unet``), so the message
    tells the user which part of the config chose the family.
    """
    for name, why in refused.items():
        if name in train.model_fields_set:
            raise ConfigError(f"train.{name} does not apply to a {family} run ({where}): {why}; "
                              "remove it from the train section")
