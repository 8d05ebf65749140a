"""The character GPT at a GPU size, lamina's against a hand-written loop: ms/step, tokens/s, share of the GPU's peak.

The size is nanoGPT's shakespeare-char GPU configuration: 6 layers, 6 heads, width 384, context
256, batch 64, no dropout (10.7M parameters), trained on tinyshakespeare's first 90% for
``--steps`` steps with AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1, fused) and gradient
clipping at 1.0, under bf16 autocast by default:

* **lamina**: ``lamina.nn.models.language.GPT``, ``lamina.lm.corpus.random_windows``, lamina's
  optimizer and warmup+cosine schedule and ``char_lm_step.train_step`` (the step ``lamina
  train`` runs), inside ``torch.autocast``;
* **hand**: ``char_lm_step.HandBlock`` blocks in a model sized here (nanoGPT's initialization),
  windows drawn on the device, and the plain forward, cross-entropy, backward, clip, step.

The two alternate in chunks of ``--chunk`` steps (order flipping each round), with the device
synchronized around each chunk, so a busy neighbour hits both alike. Model FLOPs per token are
nanoGPT's estimate, 6N + 12 * layers * width * context (N: all parameters); the share of peak
divides the achieved rate by the dense bf16 peak of the device's name in ``BF16_PEAK_TFLOPS``
("unknown" for other devices). Both models' validation loss (every character of the last 10%
scored once) is printed, so a fast but broken step cannot pass for a good one.

    python benchmarks/gpu_char_lm.py --device cuda                  # the full check (about 2 x 2000 steps)
    python benchmarks/gpu_char_lm.py --device cpu --steps 4 --size tiny   # a dry run of this script
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lamina.config import OptimizerSpec, ScheduleSpec
from lamina.lm.corpus import load_corpus, random_windows, tiled_windows
from lamina.lm.nexttoken import mean_loss
from lamina.nn.models.language import GPT, GPTOptions
from lamina.train.optim import make_optimizer, make_schedule

from char_lm_step import HandBlock, train_step  # the sibling script's block (benchmarks/ is on the path when run as a script)

TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
SIZES = {"gpu": GPTOptions(layers=6, heads=6, width=384, context=256, dropout=0.0),
         "tiny": GPTOptions(layers=2, heads=2, width=32, context=16, dropout=0.0)}
BF16_PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense, first match wins


def bf16_peak(device: torch.device) -> tuple[str, float | None]:
    """The device's name and its dense bf16 peak in TFLOP/s, or None when the table does not know it."""
    if device.type != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name(device)
    return name, next((peak for key, peak in BF16_PEAK_TFLOPS.items() if key in name), None)


class HandGPT(nn.Module):
    """Token and position embeddings, ``HandBlock`` blocks, a final norm and a tied output layer, of any size."""

    def __init__(self, vocab: int, size: GPTOptions) -> None:
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, size.width), nn.Embedding(size.context, size.width)
        self.blocks = nn.ModuleList(HandBlock(size.width, size.heads) for _ in range(size.layers))
        self.norm = nn.LayerNorm(size.width)
        self.head = nn.Linear(size.width, vocab, bias=False)
        self.head.weight = self.tokens.weight
        for module in self.modules():  # nanoGPT's initialization: N(0, 0.02) weights, zero biases
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1], device=ids.device))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # (B, T, V)


def lamina_trainer(model: GPT, ids: torch.Tensor, size: GPTOptions, batch: int, steps: int,
                   autocast: object) -> Callable[[], None]:
    """One step of lamina's language-model training (its sampler, optimizer, schedule and train_step)."""
    optimizer = make_optimizer(model.parameters(), OptimizerSpec(name="adamw", lr=1e-3, weight_decay=0.1,
                                                                 betas=(0.9, 0.99)))
    scheduler = make_schedule(optimizer, ScheduleSpec(name="cosine", warmup_epochs=0.05, min_lr_ratio=0.1), 1, steps)
    windows = torch.Generator().manual_seed(0)

    def step() -> None:
        x, y = random_windows(ids, size.context, batch, windows)  # (B, T) each, on the device
        with autocast:
            train_step(model, optimizer, scheduler, x, y, 1.0)

    return step


def hand_trainer(model: HandGPT, ids: torch.Tensor, size: GPTOptions, batch: int,
                 autocast: object) -> Callable[[], None]:
    """One step of a plain nanoGPT-style loop, the windows drawn on the device."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1, fused=True)
    offsets = torch.arange(size.context, device=ids.device)

    def step() -> None:
        index = torch.randint(len(ids) - size.context, (batch, 1), device=ids.device) + offsets  # (B, T)
        with autocast:
            loss = F.cross_entropy(model(ids[index]).flatten(0, 1), ids[index + 1].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def timed_chunk(step: Callable[[], None], count: int, device: torch.device) -> float:
    """Milliseconds per step over ``count`` consecutive steps, the device synchronized at both ends."""
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    started = time.perf_counter()
    for _ in range(count):
        step()
    synchronize()
    return 1000 * (time.perf_counter() - started) / count


def main() -> None:
    """Train both for ``--steps`` steps, interleaved, and print each one's speed and validation loss."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the check) or cpu (a dry run)")
    parser.add_argument("--size", choices=list(SIZES), default="gpu")
    parser.add_argument("--steps", type=int, default=2000, help="per contender")
    parser.add_argument("--chunk", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--text", default=str(TEXT))
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA device")
    size, chunk = SIZES[args.size], min(args.chunk, args.steps)
    torch.manual_seed(0)
    corpus = load_corpus(args.text, 0.1, size.context)
    ids, vocab = corpus.train.to(device), corpus.tokenizer.vocab
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == "bf16" else nullcontext()
    models = {"lamina": GPT(vocab, size).to(device).train(), "hand": HandGPT(vocab, size).to(device).train()}
    steps = {"lamina": lamina_trainer(models["lamina"], ids, size, args.batch, args.steps, autocast),
             "hand": hand_trainer(models["hand"], ids, size, args.batch, autocast)}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_ in range(args.steps // chunk):
        for name in (list(steps) if round_ % 2 == 0 else list(steps)[::-1]):
            times[name].append(timed_chunk(steps[name], chunk, device))
    name, peak = bf16_peak(device)
    tokens = args.batch * size.context
    val_x, val_y = (t.to(device) for t in tiled_windows(corpus.val, size.context))
    print(f"{name}; {size.layers} layers x {size.heads} heads x {size.width}, context {size.context}, batch "
          f"{args.batch}, {args.precision}, {len(times['lamina']) * chunk} steps each in chunks of {chunk}")
    for contender, model in models.items():
        params = sum(p.numel() for p in model.parameters())
        flops = (6 * params + 12 * size.layers * size.width * size.context) * tokens  # per step
        ms = statistics.median(times[contender][1:] or times[contender])  # the first chunk warms up
        share = f"{flops / (ms / 1000) / (peak * 1e12):.1%} of {peak:.0f}" if peak else "unknown (device not in the table)"
        with torch.no_grad(), autocast:
            val = mean_loss(model, val_x, val_y)
        print(f"{contender:7s} {ms:8.2f} ms/step  {tokens / (ms / 1000):11,.0f} tokens/s  "
              f"{flops / (ms / 1000) / 1e12:7.2f} TFLOP/s  peak share {share}  val loss {val:.4f}  ({params:,} parameters)")
    ratio = statistics.median(a / b for a, b in zip(times["lamina"], times["hand"], strict=True))
    print(f"ratio lamina/hand: {ratio:.3f} (median of per-chunk ratios)")


if __name__ == "__main__":
    main()
