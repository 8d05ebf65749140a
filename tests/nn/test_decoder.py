"""The Transformer decoder block: causal (never sees the future), reads its memory, pre- and post-norm."""

from __future__ import annotations

import pytest
import torch

from lamina.nn.decoder import DecoderArgs, DecoderBlock
from lamina.nn.layers import build_chain, parse_chain
from lamina.nn.models.seq2seq import Seq2SeqLayerArgs, TransformerSeq2Seq


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_decoder_block_never_sees_the_future_but_reads_its_memory(norm: str) -> None:
    block = DecoderBlock(8, DecoderArgs(heads=2, dropout=0.0, norm=norm)).eval()
    x, memory = torch.randn(2, 7, 8), torch.randn(2, 5, 8)  # (B, T, C), (B, S, C)
    changed = x.clone()
    changed[:, 4:] = torch.randn(2, 3, 8)  # only steps 4, 5 and 6 differ
    out, out2 = block(x, memory=memory), block(changed, memory=memory)
    assert torch.allclose(out[:, :4], out2[:, :4], atol=1e-6)
    assert not torch.allclose(out[:, 4:], out2[:, 4:], atol=1e-3)
    assert not torch.allclose(block(x, memory=memory.flip(1) + 1), out, atol=1e-3)  # cross-attention reads memory


def test_post_norm_ends_normalized_and_pre_norm_keeps_the_residual_stream() -> None:
    x = 5 + 3 * torch.randn(4, 6, 8)
    post = DecoderBlock(8, DecoderArgs(heads=2, dropout=0.0, norm="post")).eval()(x)
    pre = DecoderBlock(8, DecoderArgs(heads=2, dropout=0.0, norm="pre")).eval()(x)
    assert torch.allclose(post.mean(-1), torch.zeros(4, 6), atol=1e-5)  # norm(x + f(x)) is the last step
    assert pre.mean() > 2  # x + f(norm(x)): the input's offset flows through untouched


def test_decoder_block_in_a_chain_is_a_causal_decoder_only_block() -> None:
    chain, _, _ = build_chain(parse_chain([{"decoder_block": {"heads": 2, "dropout": 0.0}}], "t"), (6, 4))
    x = torch.randn(1, 6, 4)
    changed = torch.cat([x[:, :3], torch.randn(1, 3, 4)], dim=1)
    assert torch.allclose(chain.eval()(x)[:, :3], chain(changed)[:, :3], atol=1e-6)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_transformer_seq2seq_logits_never_depend_on_later_target_tokens(norm: str) -> None:
    args = Seq2SeqLayerArgs(source_length=6, vocab=12, dim=16, depth=2, heads=2, dropout=0.0, norm=norm)
    model = TransformerSeq2Seq(args, target_length=5).eval()
    x = torch.randint(4, 12, (3, 11))  # (B, S + T): source then decoder input
    changed = x.clone()
    changed[:, 8:] = torch.randint(4, 12, (3, 3))  # decoder steps 2, 3, 4 differ
    out, out2 = model(x), model(changed)  # (B, T, V)
    assert torch.allclose(out[:, :2], out2[:, :2], atol=1e-5)  # step t's logits read decoder tokens 0..t only
    assert not torch.allclose(out[:, 2:], out2[:, 2:], atol=1e-3)
