"""Character GPT training step: lamina's against a hand-written nanoGPT-style model and loop, side by side.

Both train the issue's model (4 layers, 4 heads, width 128, context 64, no dropout, tied
embeddings, GELU MLP of width 512) on tinyshakespeare's training part with AdamW (fused,
lr 1e-3, betas 0.9/0.99, weight decay 0.1) and gradient clipping at 1.0:

* **lamina**: ``lamina.nn.models.language.GPT`` (lamina's Transformer blocks),
  ``lamina.lm.corpus.random_windows`` and :func:`train_step` below with lamina's optimizer and
  warmup+cosine schedule: the model and the step's arithmetic, without the loop (``lamina train``
  now runs them through ``lamina.train.loop.fit``; ``benchmarks/char_lm_loop.py`` times that loop).
* **hand**: a minimal nanoGPT-style model written here (fused qkv linear,
  ``F.scaled_dot_product_attention(is_causal=True)``) and a plain loop: random offsets,
  stacked slices, forward, cross-entropy, backward, clip, step.

With ``--bf16`` a third contender, lamina's step under ``train.precision: bf16`` (bfloat16
autocast, what ``benchmarks/char_lm.py``'s recipes run), joins the rounds; its ratio to the
float32 hand loop projects the recipes' wall time from nanoGPT's.

Rounds interleave the contenders (order alternating) after a warm-up; each round times ``--chunk``
steps of each. Medians of ms/step are printed with the ratio lamina/hand at the same batch
(so the same tokens per step); lamina aims at <= 1.0x. On a shared machine absolute times
drift, the ratio much less.

    OMP_NUM_THREADS=2 python benchmarks/char_lm_step.py [--threads 2] [--batch 16] [--rounds 15] [--bf16]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lamina.config import OptimizerSpec, ScheduleSpec
from lamina.lm.corpus import load_corpus, random_windows
from lamina.lm.nexttoken import autocast_for
from lamina.nn.models.language import GPT, GPTOptions
from lamina.train.optim import make_optimizer, make_schedule

TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
LAYERS, HEADS, WIDTH, CONTEXT = 4, 4, 128, 64


class HandBlock(nn.Module):
    """Pre-norm block: fused qkv projection, causal SDPA, output projection; then a GELU MLP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(c, dim=2)  # each (B, T, C)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, C/H)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, c)
        x = x + self.proj(attended)
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class HandGPT(nn.Module):
    """Token and position embeddings, the blocks, a final norm and a tied output layer."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, WIDTH), nn.Embedding(CONTEXT, WIDTH)
        self.blocks = nn.ModuleList(HandBlock(WIDTH, HEADS) for _ in range(LAYERS))
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, vocab, bias=False)
        self.head.weight = self.tokens.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def hand_trainer(ids: torch.Tensor, vocab: int, batch: int) -> Callable[[], None]:
    """A closure doing one step of the hand-written loop."""
    model = HandGPT(vocab)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1, fused=True)

    def step() -> None:
        starts = torch.randint(len(ids) - CONTEXT, (batch,)).tolist()
        x = torch.stack([ids[i : i + CONTEXT] for i in starts])
        y = torch.stack([ids[i + 1 : i + 1 + CONTEXT] for i in starts])
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def train_step(model: GPT, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR | None,
               x: torch.Tensor, y: torch.Tensor, clip_norm: float | None, precision: str = "fp32") -> torch.Tensor:
    """One optimization step on windows ``x`` -> ``y`` (B, T), written out by hand; returns the loss, detached.

    The forward pass runs in ``precision``, the loss in float32; gradients are clipped to ``clip_norm``
    and the schedule advances once (what ``lamina train`` ran each step before the one loop drove it).
    """
    with autocast_for(precision):
        logits = model(x)  # (B, T, V)
    loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.detach()


def lamina_trainer(ids: torch.Tensor, vocab: int, batch: int, steps: int, precision: str = "fp32"
                   ) -> Callable[[], None]:
    """A closure doing one step of lamina's language-model training (its model, sampler, step and schedule)."""
    model = GPT(vocab, GPTOptions(layers=LAYERS, heads=HEADS, width=WIDTH, context=CONTEXT, dropout=0.0)).train()
    optimizer = make_optimizer(model.parameters(), OptimizerSpec(name="adamw", lr=1e-3, weight_decay=0.1,
                                                                 betas=(0.9, 0.99)))
    scheduler = make_schedule(optimizer, ScheduleSpec(name="cosine", warmup_epochs=0.05, min_lr_ratio=0.1), 1, steps)
    batches = torch.Generator().manual_seed(0)

    def step() -> None:
        x, y = random_windows(ids, CONTEXT, batch, batches)
        train_step(model, optimizer, scheduler, x, y, 1.0, precision)

    return step


def ms_per_step(step: Callable[[], None], count: int) -> float:
    """Milliseconds per step over ``count`` consecutive steps."""
    started = time.perf_counter()
    for _ in range(count):
        step()
    return 1000 * (time.perf_counter() - started) / count


def main() -> None:
    """Interleave lamina's and the hand-written step; print medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=str(TEXT))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--bf16", action="store_true", help="also time lamina's step under bf16 autocast")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    corpus = load_corpus(args.text, 0.1, CONTEXT)
    vocab = corpus.tokenizer.vocab
    contenders = {"lamina": lamina_trainer(corpus.train, vocab, args.batch, (args.rounds + 1) * args.chunk),
                  "hand": hand_trainer(corpus.train, vocab, args.batch)}
    if args.bf16:
        contenders["lamina-bf16"] = lamina_trainer(corpus.train, vocab, args.batch, (args.rounds + 1) * args.chunk,
                                                   "bf16")
    for step in contenders.values():  # warm-up: allocator, kernels, optimizer state
        ms_per_step(step, args.chunk)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(args.rounds):
        for name in (list(contenders) if round_ % 2 == 0 else list(contenders)[::-1]):
            times[name].append(ms_per_step(contenders[name], args.chunk))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"batch {args.batch} x context {CONTEXT}, {args.threads} threads, {args.rounds} rounds of {args.chunk} steps")
    for name, value in medians.items():
        print(f"{name:11s} {value:7.1f} ms/step  ({value / args.batch * 12:6.1f} ms per 12-sequence batch)")
    for name in (n for n in contenders if n != "hand"):
        ratios = [a / b for a, b in zip(times[name], times["hand"], strict=True)]
        print(f"ratio {name}/hand: {medians[name] / medians['hand']:.3f} of medians, "
              f"{statistics.median(ratios):.3f} median of per-round ratios")


if __name__ == "__main__":
    main()
