"""The fast dropout: nn.Dropout's distribution and scaling, and the in-place swap inside T5."""

import pytest
import torch
from torch import nn

from genrec.generators.dropout import Dropout, use_fast_dropout


def test_keeps_the_right_share_and_preserves_the_mean():
    torch.manual_seed(0)
    x = torch.ones(200_000)
    out = Dropout(0.3).train()(x)
    kept = out != 0
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.005)
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.7))
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)


def test_identity_in_eval_and_gradient_follows_the_mask():
    x = torch.randn(1000, requires_grad=True)
    layer = Dropout(0.5)
    assert torch.equal(layer.eval()(x), x)
    out = layer.train()(x)
    out.sum().backward()
    assert torch.equal(x.grad, (out.detach() != 0).float() * 2.0)


def test_swaps_every_dropout_in_t5_and_keeps_the_outputs():
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(T5Config(vocab_size=50, d_model=16, d_kv=8, d_ff=32, num_layers=1,
                                             num_decoder_layers=1, num_heads=2, dropout_rate=0.1))
    ids = torch.randint(2, 50, (3, 7))
    before = t5.eval()(input_ids=ids, decoder_input_ids=ids[:, :3]).logits
    use_fast_dropout(t5)
    assert not any(type(m) is nn.Dropout for m in t5.modules())
    assert sum(isinstance(m, Dropout) for m in t5.modules()) > 0
    assert torch.equal(t5.eval()(input_ids=ids, decoder_input_ids=ids[:, :3]).logits, before)
