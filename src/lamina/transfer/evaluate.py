"""``lamina evaluate`` on a pretraining run folder (``lamina pretrain``): its pretext loss on held-out inputs.

Pretraining learns from the training and validation inputs (labels unused); the test split's inputs
are held out. What is scored is the method's own loss there (SimCLR: NT-Xent between two augmented
views; denoise: the masked-reconstruction MSE), with the run's encoder and the head it trained with
(pretrain_head.safetensors), views and masks drawn from the run's seed: it equals pretrain.json's
``test_pretext_loss``. A downstream score needs a labelled run that uses this one as model.backbone.
"""

from __future__ import annotations

from typing import Any

from lamina.data.prepare import prepare_data
from lamina.errors import RunFolderError
from lamina.evaluate.run import RUN_KINDS, RunKind
from lamina.files import load_tensors, read_json
from lamina.runs import RunFolder, load_run
from lamina.transfer.selfsup import HEAD, encoder_of, held_out_loss, pretraining

RECORD = "pretrain.json"


def is_pretraining_run(folder: RunFolder) -> bool:
    """Whether the folder holds a pretraining run (its pretrain.json)."""
    return (folder.root / RECORD).is_file()


def evaluate_pretraining(folder: RunFolder) -> dict[str, Any]:
    """Re-score a pretraining run's pretext loss on its held-out test inputs; returns the report."""
    if not (folder.root / HEAD).is_file():
        raise RunFolderError(f"{folder.root} holds no {HEAD}: the run had no test split to hold out (data.split.test) "
                             "or was written before the head was kept, so there is no pretext loss to score")
    run = load_run(folder.root)
    spec = run.spec
    data = prepare_data(spec.data, fitted=run.preprocessor)
    x = data.test.x
    model, step = pretraining(encoder_of(run.model), x, spec.train.selfsup, spec.train.augment)
    try:
        model.head.load_state_dict(load_tensors(folder.root / HEAD))
    except RuntimeError as exc:
        raise RunFolderError(f"{folder.root / HEAD} does not match the run's head: "
                             f"{str(exc).splitlines()[0]}") from None
    method = read_json(folder.root / RECORD).get("method", spec.train.selfsup.method)
    return {"kind": "pretraining", "split": "test", "samples": len(x),
            "metrics": {"test_pretext_loss": held_out_loss(model, step, x, spec.train.batch_size, spec.seed)},
            "scored": f"the {method} pretext loss on the {len(x)} held-out test inputs (labels unused)"}


RUN_KINDS.add("pretraining", RunKind(is_pretraining_run, evaluate_pretraining),
              "self-supervised pretraining (SimCLR, denoise): pretext loss on held-out inputs")
