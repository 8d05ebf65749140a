"""Generating target sequences from a trained seq2seq model: greedy and beam search, and sequence scores.

Both decoders take a model with ``encode(source) -> memory`` and
``decode(memory, prefix) -> logits (B, t, V)`` (``lamina.nn.models.seq2seq``)
and return token ids (B, L): each sequence up to and including ``<eos>``, then
padding. Beam search keeps the ``width`` most likely prefixes (summed
log-probabilities); a finished one keeps its score while the others grow.
Width 1 is greedy decoding.
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.data.pairs import BOS, EOS, PAD
from lamina.errors import LaminaError


def seq2seq_module(model: nn.Module) -> nn.Module:
    """The encoder-decoder inside ``model`` (a built chain holding a seq2seq layer)."""
    for module in model.modules():
        if hasattr(module, "encode") and hasattr(module, "decode") and hasattr(module, "source_length"):
            return module
    raise LaminaError("this model has no encoder-decoder (seq2seq) layer to decode with")


def _select(memory: tuple[torch.Tensor, ...], index: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(m[index] for m in memory)


def _next_logp(net: nn.Module, memory: tuple[torch.Tensor, ...], prefix: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the next token (B, V); padding and <bos> are never generated."""
    logp = net.decode(memory, prefix)[:, -1].float().log_softmax(-1)  # (B, V)
    logp[:, PAD] = float("-inf")
    logp[:, BOS] = float("-inf")
    return logp


def _padded(ids: torch.Tensor, length: int) -> torch.Tensor:
    out = torch.zeros(len(ids), length, dtype=torch.long, device=ids.device)
    out[:, : ids.shape[1]] = ids
    return out


@torch.no_grad()
def greedy(model: nn.Module, source: torch.Tensor, length: int) -> torch.Tensor:
    """The most likely next token at every step, up to ``length`` tokens: ids (B, length)."""
    net = seq2seq_module(model)
    net.eval()
    memory = net.encode(source)
    prefix = torch.full((len(source), 1), BOS, dtype=torch.long, device=source.device)  # (B, 1)
    done = torch.zeros(len(source), dtype=torch.bool, device=source.device)
    for _ in range(length):
        token = _next_logp(net, memory, prefix).argmax(-1).masked_fill(done, PAD)  # (B,)
        prefix = torch.cat([prefix, token.unsqueeze(1)], dim=1)
        done |= token == EOS
        if bool(done.all()):
            break
    return _padded(prefix[:, 1:], length)


@torch.no_grad()
def beam_search(model: nn.Module, source: torch.Tensor, length: int, width: int = 4) -> torch.Tensor:
    """The most likely of ``width`` beams after ``length`` steps (or when all end): ids (B, length)."""
    net = seq2seq_module(model)
    net.eval()
    batch = len(source)
    memory = _select(net.encode(source), torch.arange(batch, device=source.device).repeat_interleave(width))
    prefix = torch.full((batch * width, 1), BOS, dtype=torch.long, device=source.device)  # (B*W, 1)
    scores = torch.full((batch, width), float("-inf"), device=source.device)
    scores[:, 0] = 0.0  # one live beam at the start, so the first step does not pick the same token W times
    done = torch.zeros(batch * width, dtype=torch.bool, device=source.device)
    for _ in range(length):
        logp = _next_logp(net, memory, prefix)  # (B*W, V)
        frozen = torch.full_like(logp, float("-inf"))
        frozen[:, PAD] = 0.0  # a finished beam only extends with padding, at no cost
        logp = torch.where(done.unsqueeze(1), frozen, logp)
        vocab = logp.shape[1]
        total = (scores.reshape(-1, 1) + logp).reshape(batch, width * vocab)  # (B, W*V)
        scores, pick = total.topk(width, dim=1)  # (B, W)
        beam = pick // vocab + torch.arange(batch, device=source.device).unsqueeze(1) * width  # (B, W) rows
        token = (pick % vocab).reshape(-1, 1)  # (B*W, 1)
        rows = beam.reshape(-1)
        prefix = torch.cat([prefix[rows], token], dim=1)
        memory = _select(memory, rows)
        done = done[rows] | (token.squeeze(1) == EOS)
        if bool(done.all()):
            break
    best = scores.argmax(dim=1) + torch.arange(batch, device=source.device) * width  # (B,)
    return _padded(prefix[best, 1:], length)  # <bos> dropped


@torch.no_grad()
def sequence_log_likelihood(model: nn.Module, source: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """log p(ids | source) under the model, summed over the tokens up to and including ``<eos>``: (B,)."""
    net = seq2seq_module(model)
    net.eval()
    decoder_in = torch.cat([torch.full_like(ids[:, :1], BOS), ids[:, :-1]], dim=1)  # (B, L) shifted right
    decoder_in = decoder_in.masked_fill(decoder_in == EOS, PAD)
    logp = net.decode(net.encode(source), decoder_in).float().log_softmax(-1)  # (B, L, V)
    token = logp.gather(2, ids.unsqueeze(2)).squeeze(2)  # (B, L)
    return (token * (ids != PAD)).sum(dim=1)


def generate(model: nn.Module, source: torch.Tensor, length: int, method: str = "greedy", width: int = 4,
             batch_size: int = 256) -> torch.Tensor:
    """Decode every source (N, S) in chunks with ``method`` ('greedy' or 'beam'): ids (N, length)."""
    chunks = [greedy(model, source[i : i + batch_size], length) if method == "greedy" else
              beam_search(model, source[i : i + batch_size], length, width)
              for i in range(0, len(source), batch_size)]
    return torch.cat(chunks) if chunks else torch.zeros(0, length, dtype=torch.long)
