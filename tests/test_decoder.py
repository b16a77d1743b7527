"""The shared attentional decoder and its copy attention (pointer-generator): the mixture is a
distribution, its gradients match finite differences in float64, teacher forcing equals
stepping, a closed gate copies exactly the attention weights, and a Seq2Seq with copy maps
source ids to target ids through its saved copy map."""

from __future__ import annotations

import pytest
import torch

from rnnkit.errors import RnnkitError
from rnnkit.models.decoder import AttentionDecoder
from rnnkit.models.seq2seq import BOS, EOS, PAD, UNK, Seq2Seq, Seq2SeqConfig

B, S, K, K0, V = 3, 5, 6, 4, 9


def decoder(**kw) -> AttentionDecoder:
    torch.manual_seed(0)
    c = dict(cell="gru", vocab_size=V, embed_dim=5, hidden_size=4, num_layers=2, key_size=K,
             summary_size=K0, attention="additive", copy=True)  # fmt: skip
    return AttentionDecoder(**{**c, **kw}).double().eval()


def inputs():
    g = torch.Generator().manual_seed(1)
    summary = torch.randn(B, K0, dtype=torch.float64, generator=g)
    keys = torch.randn(B, S, K, dtype=torch.float64, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)
    copy_ids = torch.randint(0, V, (B, S), generator=g)
    tgt_in = torch.randint(0, V, (B, 4), generator=g)
    return summary, keys, mask, copy_ids, tgt_in


@pytest.mark.parametrize("attention", ["additive", "general"])
def test_copy_mixture_is_a_distribution_and_teacher_forcing_equals_stepping(attention):
    d = decoder(attention=attention)
    summary, keys, mask, copy_ids, tgt_in = inputs()
    forced = d(d.begin(summary, keys, mask, copy_ids), tgt_in)  # (B, T, V) log-probabilities
    torch.testing.assert_close(forced.exp().sum(-1), torch.ones(B, 4, dtype=torch.float64))
    st = d.begin(summary, keys, mask, copy_ids)
    for t in range(tgt_in.shape[1]):
        logp, st, weights = d.step(tgt_in[:, t], st)
        torch.testing.assert_close(logp, forced[:, t], rtol=0, atol=1e-12)
        assert (weights[~mask] == 0).all()


def test_copy_decoder_gradients_match_finite_differences_in_float64():
    d = decoder()
    summary, keys, mask, copy_ids, tgt_in = inputs()
    summary.requires_grad_(True)
    keys.requires_grad_(True)

    def loss(summary, keys):
        return d(d.begin(summary, keys, mask, copy_ids), tgt_in)

    assert torch.autograd.gradcheck(loss, (summary, keys), atol=1e-7)
    whole = Whole(d)
    names = [n for n, _ in whole.named_parameters()]
    assert any(".gate." in n for n in names), "the copy gate has parameters"
    chosen = [n for n in names if n.startswith(("d.gate", "d.attention", "d.out", "d.bridge"))]
    fixed = dict(whole.named_parameters())
    args = (summary.detach(), keys.detach(), mask, copy_ids, tgt_in)

    def of_chosen(*p):
        values = {**fixed, **dict(zip(chosen, p, strict=True))}
        return torch.func.functional_call(whole, values, args)

    assert torch.autograd.gradcheck(of_chosen, tuple(fixed[n] for n in chosen), atol=1e-7)


class Whole(torch.nn.Module):
    """begin then forward, as one module call (for ``functional_call``)."""

    def __init__(self, d: AttentionDecoder):
        super().__init__()
        self.d = d

    def forward(self, summary, keys, mask, copy_ids, tgt_in):
        return self.d(self.d.begin(summary, keys, mask, copy_ids), tgt_in)


def test_a_closed_gate_copies_exactly_the_attention_weights():
    d = decoder()
    summary, keys, mask, copy_ids, tgt_in = inputs()
    with torch.no_grad():
        d.gate.weight.zero_()
        d.gate.bias.fill_(-1e4)  # sigmoid -> 0: nothing generated, everything copied
    logp, _, weights = d.step(tgt_in[:, 0], d.begin(summary, keys, mask, copy_ids))
    expected = torch.zeros(B, V, dtype=torch.float64).scatter_add(1, copy_ids, weights)
    torch.testing.assert_close(logp.exp(), expected, rtol=0, atol=1e-9)


def test_copy_needs_attention_and_copy_ids():
    with pytest.raises(RnnkitError, match="needs attention"):
        decoder(attention="none")
    summary, keys, mask, _, _ = inputs()
    with pytest.raises(RnnkitError, match="output ids"):
        decoder().begin(summary, keys, mask)


def test_seq2seq_copies_through_its_saved_copy_map():
    torch.manual_seed(0)
    c = Seq2SeqConfig(src_vocab_size=8, tgt_vocab_size=10, hidden_size=6, embed_dim=5, copy=True)
    m = Seq2Seq(c).eval()
    assert (m.copy_map == UNK).all()  # until the task sets it
    copy_map = torch.tensor([UNK, PAD, BOS, EOS, 7, 9, UNK, 4])  # source id -> target id
    m.set_copy_map(copy_map)
    with torch.no_grad():
        m.decoder.gate.weight.zero_()
        m.decoder.gate.bias.fill_(-1e4)
    src = torch.tensor([[4, 5, 7, 6]])
    logp, _, weights = m.step(torch.tensor([BOS]), m.start(src, torch.tensor([4])))
    p = logp.exp()[0]
    torch.testing.assert_close(p[7] + p[9] + p[4] + p[UNK], torch.tensor(1.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(p[9], weights[0, 1], atol=1e-6, rtol=0)
    again = Seq2Seq(c)
    again.load_state_dict(m.state_dict())  # the map travels with the weights
    assert torch.equal(again.copy_map, copy_map)
