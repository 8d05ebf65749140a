"""Character-level GPT on tinyshakespeare: wall time and validation loss of lamina's language-model run.

The issue's reference is nanoGPT's CPU configuration (4 layers, 4 heads, width 128, context 64,
batch 12, 2000 iterations, no dropout, ``--compile=False``), run from a scratch copy of
karpathy/nanoGPT (see the README's language-model section for both exact commands). Two recipes:

* ``fast``: nanoGPT's model size; target validation loss <= 1.88 nats/char in <= 35 s of wall time.
* ``quality``: a larger model; target <= 1.75 within nanoGPT's wall time.

The validation loss printed here scores every character of the last 10% of the text once
(non-overlapping context windows) in float32, not a random-batch estimate. Wall time is the
whole process (Python start, imports, reading the text, training, the final validation and the
run folder), as ``time python train.py`` measures nanoGPT; it depends on how busy the machine
is, so compare runs made back to back. Flags override the recipe's values.

    python benchmarks/char_lm.py --recipe fast --seed 0 [--threads 2] [--steps N] [--lr X] ...
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports: wall time counts them, as nanoGPT's does

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from lamina.lm.train import train_lm  # noqa: E402

TEXT = Path(__file__).resolve().parents[1] / "examples" / "data" / "tinyshakespeare.txt"
RECIPES = {  # both: AdamW (betas 0.9/0.99, weight decay 0.1), 5% warmup, cosine to 0.1x, bf16 autocast
    "fast": {"layers": 4, "heads": 4, "width": 128, "context": 64, "steps": 1100, "batch": 16, "lr": 6e-3,
             "min_lr_ratio": 0.1, "warmup": 0.05, "precision": "bf16", "target": 1.88, "seconds": 35.0},
    "quality": {"layers": 4, "heads": 4, "width": 128, "context": 64, "steps": 2200, "batch": 16, "lr": 6e-3,
                "min_lr_ratio": 0.1, "warmup": 0.05, "precision": "bf16", "target": 1.75, "seconds": 76.0},
}


def main() -> None:
    """Train once with the chosen recipe and print wall time, validation loss and bits per character."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="fast")
    parser.add_argument("--text", default=str(TEXT))
    for name in ("layers", "heads", "width", "context", "steps", "batch"):
        parser.add_argument(f"--{name}", type=int)
    for name in ("lr", "min-lr-ratio", "warmup"):
        parser.add_argument(f"--{name}", type=float)
    parser.add_argument("--precision", choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    r = dict(RECIPES[args.recipe])
    r.update({k: v for k, v in vars(args).items() if k in r and v is not None})
    config = {
        "name": "char-lm", "seed": args.seed, "runs_dir": tempfile.mkdtemp(prefix="lamina-bench-"),
        "data": {"path": args.text, "val": 0.1},
        "model": {"layers": r["layers"], "heads": r["heads"], "width": r["width"], "context": r["context"],
                  "dropout": 0.0},
        "train": {"steps": r["steps"], "batch_size": r["batch"], "eval_every": max(1, r["steps"] // 5),
                  "threads": args.threads, "precision": r["precision"],
                  "optimizer": {"name": "adamw", "lr": r["lr"], "weight_decay": 0.1, "betas": [0.9, 0.99]},
                  "schedule": {"name": "cosine", "warmup_epochs": r["warmup"], "min_lr_ratio": r["min_lr_ratio"]}},
    }
    root = train_lm(config, progress="plain")
    wall = time.perf_counter() - STARTED
    summary = json.loads((root / "summary.json").read_text())
    loss = summary["val"]["loss"]
    print(f"recipe {args.recipe} seed {args.seed} threads {args.threads}: " + "  ".join(
        f"{k} {v}" for k, v in r.items() if k not in ("target", "seconds")))
    print(f"wall time {wall:.1f} s (training loop {summary['train_seconds']:.1f} s, "
          f"{1000 * summary['seconds_per_step']:.1f} ms/step)")
    print(f"val loss {loss:.4f} nats/char  bits/char {summary['val']['bits_per_char']:.4f}  "
          f"(unigram baseline {summary['unigram_val_loss']:.4f})")
    print(f"target: val loss <= {r['target']} ({'reached' if loss <= r['target'] else 'NOT reached'}) "
          f"in <= {r['seconds']:.0f} s ({'yes' if wall <= r['seconds'] else 'no'}, on this machine as busy as it was)")


if __name__ == "__main__":
    main()
