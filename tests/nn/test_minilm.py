"""The MiniLM backbone as chain layers computes exactly the packaged sentence encoder's embeddings."""

from __future__ import annotations

import pytest
import torch

from lamina.data.text import encode_texts
from lamina.lm.encoder import MiniLM
from lamina.nn.backbone import layer_groups
from lamina.nn.layers import build_chain, parse_chain
from lamina.nn.minilm import (MAX_TOKENS, packaged_model_dir, packaged_tokenizer_json, pretrained_chain,
                              pretrained_weights, read_bert_config)

TEXTS = ["The striker scored twice.", "Knead the dough, then let it rise for an hour.",
         "Restart the router if the wifi drops.", "Hi", "Snow is expected overnight in the mountains " * 30]


def test_chain_with_packaged_weights_equals_the_sentence_encoder() -> None:
    items = pretrained_chain(read_bert_config(packaged_model_dir()))
    layers, out, _ = build_chain(parse_chain(items, "model.backbone"), (40,))
    layers.load_state_dict({k.removeprefix("layers."): v for k, v in pretrained_weights().items()})  # strict
    tokenizer = {"kind": "minilm", "column": "text", "json": packaged_tokenizer_json()}
    ids = torch.from_numpy(encode_texts(TEXTS, [], tokenizer, MAX_TOKENS))  # (5, 256), padded with [PAD] = 0
    with torch.no_grad():
        ours = layers.eval()(ids)  # (5, 384)
    reference = MiniLM().embed(TEXTS)
    assert out == (384,) and ours.shape == (5, 384)
    assert torch.allclose(ours, reference, atol=1e-5), (ours - reference).abs().max()
    groups = layer_groups(layers, len(items))  # what gradual unfreezing releases and lr_groups' backbone.N name
    assert groups == [[0], [1], [2], [3], [4], [5], [6, 7, 8]]


def test_a_block_whose_width_the_heads_do_not_divide_is_refused() -> None:
    from lamina.errors import ShapeError

    with pytest.raises(ShapeError, match="divisible by heads"):
        build_chain(parse_chain([{"bert_block": {"heads": 3, "ff": 8}}], "t"), (5, 8))
