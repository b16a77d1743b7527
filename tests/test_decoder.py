"""The shared attentional decoder and its copy attention (pointer-generator): the mixture is a
distribution, its gradients match finite differences in float64, teacher forcing equals
stepping, a closed gate copies exactly the attention weights, and a Seq2Seq with copy maps
source ids to target ids through its saved copy map."""

from __future__ import annotations

from dataclasses import replace

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


@pytest.mark.parametrize("input_feed", [False, True])
@pytest.mark.parametrize("attention", ["none", "additive", "general"])
def test_teacher_forcing_equals_stepping_and_copy_mixture_is_a_distribution(attention, input_feed):
    # without input feeding, forward runs the recurrence and attention over all steps at once;
    # stepping one token at a time (as the decoders in rnnkit.generate do) must agree with it
    d = decoder(attention=attention, input_feed=input_feed, copy=attention != "none")
    summary, keys, mask, copy_ids, tgt_in = inputs()
    forced = d(d.begin(summary, keys, mask, copy_ids), tgt_in)  # (B, T, V)
    if d.gate is not None:  # log-probabilities of the mixture
        torch.testing.assert_close(forced.exp().sum(-1), torch.ones(B, 4, dtype=torch.float64))
    st = d.begin(summary, keys, mask, copy_ids)
    for t in range(tgt_in.shape[1]):
        logp, st, weights = d.step(tgt_in[:, t], st)
        torch.testing.assert_close(logp, forced[:, t], rtol=0, atol=1e-12)
        assert weights is None if attention == "none" else (weights[~mask] == 0).all()


def test_only_input_feeding_puts_the_attentional_vector_into_the_recurrence():
    fed, plain = decoder(input_feed=True), decoder(input_feed=False)
    assert fed.rnn.input_size == 5 + 4 and plain.rnn.input_size == 5  # E + A, E
    # the first attentional vector then changes the second step's output only when fed back
    summary, keys, mask, copy_ids, tgt_in = inputs()
    for d, changes in ((fed, True), (plain, False)):
        st = d.begin(summary, keys, mask, copy_ids)
        _, st, _ = d.step(tgt_in[:, 0], st)
        shifted = replace(st, feed=st.feed + 1.0)
        a, b = d.step(tgt_in[:, 1], st)[0], d.step(tgt_in[:, 1], shifted)[0]
        assert (not torch.allclose(a, b)) == changes


@pytest.mark.parametrize("input_feed", [False, True])
def test_copy_decoder_gradients_match_finite_differences_in_float64(input_feed):
    d = decoder(input_feed=input_feed)
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


@pytest.mark.parametrize("task", ["translate", "summarize", "chat", "caption", "reorder"])
def test_runs_saved_before_input_feed_existed_load_with_it_on(task):
    from rnnkit.runs.driver import make_task

    assert make_task(task, {}, {}).model.input_feed is False  # new runs: the whole-target path
    assert make_task(task, {}, {}, saved=True).model.input_feed is True  # the setting absent
    assert make_task(task, {}, {"input_feed": False}, saved=True).model.input_feed is False


def test_copy_mixture_equals_the_formula_with_repeated_source_ids():
    # the decoder mixes in log space with a fix at the source ids; the reference mixes the two
    # distributions over the whole vocabulary, as See et al. 2017 write it
    d = decoder(attention="general")
    summary, keys, mask, _, tgt_in = inputs()
    copy_ids = torch.tensor([[4, 7, 4, 4, 2], [5, 5, 1, 1, 1], [3, 8, 8, 0, 6]])  # repeats
    st = d.begin(summary, keys, mask, copy_ids)
    o = d.advance(d.embed(tgt_in[:, 0]), st)
    got = d.output(o.state.feed, o.weights, o.gate_input, copy_ids)  # (B, V)
    g = torch.sigmoid(d.gate(o.gate_input))  # (B, 1)
    copied = torch.zeros(B, V, dtype=torch.float64).scatter_add(1, copy_ids, o.weights)
    want = (g * d.out(o.state.feed).softmax(-1) + (1 - g) * copied).log()
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("training", [False, True])
def test_copy_loss_equals_cross_entropy_with_label_smoothing(training):
    # the copy model's loss skips cross_entropy's log_softmax (its outputs are log-probabilities
    # already); it must still be cross_entropy's label-smoothed loss, padding ignored
    from rnnkit.models.seq2seq import teacher_forced_loss

    torch.manual_seed(0)
    c = Seq2SeqConfig(src_vocab_size=8, tgt_vocab_size=10, hidden_size=6, embed_dim=5, copy=True,
                      label_smoothing=0.2, dropout=0.0)  # fmt: skip
    m = Seq2Seq(c).double().train(training)
    src, src_len = torch.tensor([[4, 5, 7, 6], [5, 4, 1, 1]]), torch.tensor([4, 2])
    tgt, tgt_len = torch.tensor([[7, 9, 4], [5, 1, 1]]), torch.tensor([3, 1])
    got = teacher_forced_loss(m, src, src_len, tgt, tgt_len)
    tgt_in = torch.tensor([[BOS, 7, 9, 4], [BOS, 5, PAD, PAD]])
    tgt_out = torch.tensor([[7, 9, 4, EOS], [5, EOS, PAD, PAD]])
    logp = m(src, src_len, tgt_in)
    want = torch.nn.functional.cross_entropy(
        logp.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD, label_smoothing=0.2 * training
    )
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("input_feed", [False, True])
@pytest.mark.parametrize(
    ("attention", "copy"),
    [("none", False), ("general", False), ("general", True), ("additive", True)],
)
def test_logits_at_chosen_positions_equal_those_of_every_position(attention, copy, input_feed):
    # the loss asks for its real target positions only (the output layer skips the padding):
    # the same rows as the full (B, T, V) logits, row-major, with the same gradients
    d = decoder(attention=attention, input_feed=input_feed, copy=copy).train()
    summary, keys, mask, copy_ids, tgt_in = inputs()
    positions = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    gold = torch.randint(0, V, (B, 4), generator=torch.Generator().manual_seed(2))

    def loss_and_grads(chosen: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        d.zero_grad()
        st = d.begin(summary, keys, mask, copy_ids if copy else None)
        if chosen:
            logits = d(st, tgt_in, positions)  # (N, V)
            loss = torch.nn.functional.cross_entropy(logits, gold[positions])
        else:
            logits = d(st, tgt_in)  # (B, T, V)
            loss = torch.nn.functional.cross_entropy(
                logits.flatten(0, 1), gold.masked_fill(~positions, -100).flatten()
            )
        loss.backward()
        return logits, [p.grad.clone() for p in d.parameters() if p.grad is not None]

    full, full_grads = loss_and_grads(False)
    some, some_grads = loss_and_grads(True)
    assert some.shape == (int(positions.sum()), V)
    torch.testing.assert_close(some, full[positions], rtol=0, atol=1e-12)
    assert len(some_grads) == len(full_grads)
    for got, want in zip(some_grads, full_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
