"""CTC: the loss against torch.nn.CTCLoss and against the sum over every alignment; greedy
decoding of a hand-made alignment; prefix beam search against the exhaustive best; the
Viterbi alignment against the best of every alignment, the per-frame runs, a transcript's
characters with their times; language-model fusion; the acoustic model's shapes and its baseline."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnkit.generate.ctc import (
    CharLM,
    ctc_align,
    ctc_spans,
    frame_runs,
    greedy_decode,
    prefix_beam_search,
)
from rnnkit.models.acoustic import AcousticConfig, AcousticModel, ctc_loss, fits
from rnnkit.tasks.speech import as_words


def collapse(path) -> tuple[int, ...]:
    out, prev = [], 0
    for k in path:
        if k != 0 and k != prev:
            out.append(k)
        prev = k
    return tuple(out)


def exhaustive(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """p(y | x) for every transcript y, by summing over every alignment (V^T of them)."""
    T, V = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    lp = log_probs.double()
    for path in itertools.product(range(V), repeat=T):
        p = math.exp(sum(float(lp[t, k]) for t, k in enumerate(path)))
        y = collapse(path)
        totals[y] = totals.get(y, 0.0) + p
    return totals


def test_ctc_loss_is_minus_log_of_the_sum_over_alignments_and_matches_torch():
    torch.manual_seed(0)
    B, T, V = 3, 6, 4
    log_probs = torch.randn(B, T, V).log_softmax(-1).requires_grad_()
    rows = [[1, 1], [2, 3, 2], [3]]  # a repeat needs a blank between: 1 _ 1
    targets = torch.tensor([i for r in rows for i in r])
    target_lengths = torch.tensor([len(r) for r in rows])
    lengths = torch.tensor([6, 5, 3])  # rows of their own length: padding is not read
    losses = ctc_loss(log_probs, lengths, targets, target_lengths, reduction="none")
    for b, r in enumerate(rows):
        ref = -math.log(exhaustive(log_probs[b, : lengths[b]].detach()).get(tuple(r), 0.0))
        assert float(losses[b].detach()) == pytest.approx(ref, rel=1e-5)
    tb = log_probs.transpose(0, 1)
    for reduction in ("sum", "mean"):
        ours = ctc_loss(log_probs, lengths, targets, target_lengths, reduction=reduction)
        ref = torch.nn.CTCLoss(blank=0, reduction=reduction)(tb, targets, lengths, target_lengths)
        assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
        g_ours, = torch.autograd.grad(ours, log_probs)  # fmt: skip
        g_ref, = torch.autograd.grad(ref, log_probs)  # fmt: skip
        torch.testing.assert_close(g_ours, g_ref, rtol=1e-5, atol=1e-6)
    per_char = ctc_loss(log_probs, lengths, targets, target_lengths)
    assert float(per_char.detach()) == pytest.approx(float(losses.detach().sum()) / 6, rel=1e-6)


def test_ctc_loss_of_a_transcript_that_cannot_fit_is_zero_like_torch_zero_infinity():
    log_probs = torch.randn(2, 3, 3).log_softmax(-1)
    targets, target_lengths = torch.tensor([1, 1, 1, 2]), torch.tensor([3, 1])  # 1_1_1: 5 frames
    lengths = torch.tensor([3, 3])
    assert not fits([1, 1, 1], 3) and fits([1, 2, 1], 3) and fits([2], 1)
    losses = ctc_loss(log_probs, lengths, targets, target_lengths, reduction="none")
    ref = torch.nn.CTCLoss(reduction="none", zero_infinity=True)(
        log_probs.transpose(0, 1), targets, lengths, target_lengths
    )
    torch.testing.assert_close(losses, ref)
    assert float(losses[0]) == 0.0 and float(losses[1]) > 0


def peaked(path: list[int], V: int) -> torch.Tensor:
    """Log-probabilities (T, V) that put 0.9 on ``path``'s symbol at every frame."""
    p = torch.full((len(path), V), 0.1 / (V - 1))
    p[torch.arange(len(path)), torch.tensor(path)] = 0.9
    return p.log()


def test_greedy_decoding_of_a_hand_made_alignment():
    symbols = ["<blank>", "a", "b", " "]
    #        a  a  _  b  _  b  ␣  ␣  a  a  _
    path = [1, 1, 0, 2, 0, 2, 3, 3, 1, 1, 0]
    hyp = greedy_decode(peaked(path, 4))
    assert "".join(symbols[i] for i in hyp.ids) == "abb a"
    assert hyp.score == pytest.approx(len(path) * math.log(0.9))
    assert greedy_decode(peaked(path, 4), length=4).ids == [1, 2]  # only the row's frames


@pytest.mark.parametrize("seed", range(6))
def test_prefix_beam_search_returns_the_exhaustive_best(seed):
    torch.manual_seed(seed)
    log_probs = (1.5 * torch.randn(5, 3)).log_softmax(-1)
    totals = exhaustive(log_probs)
    best = max(totals, key=totals.get)
    hyp = prefix_beam_search(log_probs, beam=64, prune=0.0)
    assert tuple(hyp.ids) == best
    assert hyp.score == pytest.approx(math.log(totals[best]), rel=1e-9)


def test_prefix_beam_search_finds_what_greedy_misses():
    # blank 0.6, "a" 0.4 at both frames: greedy says "" (0.36), but p("a") = 0.64
    log_probs = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log()
    assert greedy_decode(log_probs).ids == []
    hyp = prefix_beam_search(log_probs, beam=4)
    assert hyp.ids == [1] and hyp.score == pytest.approx(math.log(0.64))


def test_ctc_align_puts_each_symbol_on_the_frame_where_it_fires():
    path = [0, 1, 1, 0, 2, 0, 0, 2, 0]  # a at 1, b at 4, b again at 7
    assert ctc_align(peaked(path, 3), [1, 2, 2]) == [1, 4, 7]
    assert ctc_align(peaked(path, 3), [1, 1, 1, 1, 1]) == [0, 2, 4, 6, 8]  # 9 frames: just fits
    assert ctc_align(peaked(path, 3), [1, 1, 1, 1, 1, 1]) == []  # would need 11
    assert ctc_align(peaked(path, 3), [2, 1]) != []  # any transcript that fits is aligned


def symbol_spans(path) -> list[tuple[int, int]]:
    """(first, last) frame of each output symbol of a CTC path, read off the path itself."""
    spans, prev = [], 0
    for t, k in enumerate(path):
        if k != 0 and k == prev:
            spans[-1] = (spans[-1][0], t)
        elif k != 0:
            spans.append((t, t))
        prev = k
    return spans


def test_ctc_spans_are_the_frames_of_the_most_probable_alignment():
    # the reference: every path of 6 frames over 3 symbols, the likeliest of those that
    # collapse to the transcript, and its symbols' frames
    torch.manual_seed(3)
    log_probs = (1.5 * torch.randn(6, 3)).log_softmax(-1)
    paths = list(itertools.product(range(3), repeat=6))
    for ids in ([1], [2, 1], [1, 1], [1, 2, 1], [2, 2, 1, 1]):
        fitting = [p for p in paths if collapse(p) == tuple(ids)]
        best = max(fitting, key=lambda p: sum(float(log_probs[t, k]) for t, k in enumerate(p)))
        assert ctc_spans(log_probs, ids) == symbol_spans(best), ids
        assert ctc_align(log_probs, ids) == [a for a, _ in symbol_spans(best)]
    assert ctc_spans(log_probs, [1, 1, 1, 1]) == []  # needs 7 frames
    assert ctc_spans(log_probs, []) == []


def test_frame_runs_are_the_best_symbol_per_frame_without_blanks():
    #       a  a  _  b  _  _  b  b  a  ␣
    path = [1, 1, 0, 2, 0, 0, 2, 2, 1, 3]
    assert frame_runs(peaked(path, 4)) == [(1, 0, 1), (2, 3, 3), (2, 6, 7), (1, 8, 8), (3, 9, 9)]
    assert frame_runs(peaked([0, 0], 2)) == []


def test_a_transcripts_characters_keep_their_times_as_its_words_are_joined():
    first = [(" ", 0.0, 0.1), ("a", 0.1, 0.2), (" ", 0.2, 0.3), (" ", 0.3, 0.4), ("b", 0.4, 0.5),
             (" ", 0.5, 0.6)]  # fmt: skip
    pieces = [first, [(" ", 1.0, 1.1)], [("c", 2.1, 2.2)]]
    got = as_words(pieces, [0.0, 1.0, 2.0])
    assert "".join(c for c, *_ in got) == "a b c"  # as SpeechTask.words joins "  a  b  " "" "c"
    assert got == [("a", 0.1, 0.2), (" ", 0.2, 0.3), ("b", 0.4, 0.5), (" ", 2.0, 2.0),
                   ("c", 2.1, 2.2)]  # fmt: skip
    assert as_words([[], [(" ", 0.0, 0.1)]], [0.0, 1.0]) == []


class FavourLM(CharLM):
    """A stand-in character LM that gives symbol ``k`` probability 0.9 after anything."""

    def __init__(self, k: int, V: int):
        self.logp = torch.full((V,), math.log(0.1 / (V - 2)))
        self.logp[k] = math.log(0.9)

    def start(self):
        return ()

    def next_logp(self, state):
        return self.logp

    def advance(self, states, ids):
        return [(*s, i) for s, i in zip(states, ids, strict=True)]


def test_shallow_fusion_weight_zero_changes_nothing_and_a_heavy_lm_wins():
    torch.manual_seed(3)
    log_probs = (0.5 * torch.randn(6, 4)).log_softmax(-1)  # an unsure acoustic model
    plain = prefix_beam_search(log_probs, beam=8)
    lm = FavourLM(3, 4)
    assert prefix_beam_search(log_probs, beam=8, lm=lm, lm_weight=0.0).ids == plain.ids
    fused = prefix_beam_search(log_probs, beam=8, lm=lm, lm_weight=5.0, length_bonus=5.0)
    assert fused.ids and all(i == 3 for i in fused.ids) and fused.ids != plain.ids


@pytest.mark.parametrize("reduce", ["none", "stack", "conv"])
@pytest.mark.parametrize("recurrent", [True, False])
def test_acoustic_model_shapes_lengths_and_baseline_size(reduce, recurrent):
    c = AcousticConfig(hidden_size=16, num_layers=2, n_mels=10, vocab_size=5, reduce=reduce,
                       reduce_factor=3, recurrent=recurrent)  # fmt: skip
    model = AcousticModel(c).eval()
    x, lengths = torch.randn(3, 20, 10), torch.tensor([20, 13, 1])
    x[1, 13:], x[2, 1:] = 0.0, 0.0  # padding is zeros, as in the task's batches
    log_probs, out_lengths = model(x, lengths)
    R = 1 if reduce == "none" else 3
    assert out_lengths.tolist() == [-(-n // R) for n in lengths.tolist()]
    assert log_probs.shape == (3, -(-20 // R), 5)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, log_probs.shape[1]))
    if recurrent:  # padding is never read: a row alone gives the same outputs
        alone, _ = model(x[1:2, :13], lengths[1:2])
        torch.testing.assert_close(alone[0], log_probs[1, : out_lengths[1]])
    rnn = AcousticModel(AcousticConfig(**{**c.to_dict(), "recurrent": True}))
    frames = AcousticModel(AcousticConfig(**{**c.to_dict(), "recurrent": False}))
    assert abs(frames.num_parameters() / rnn.num_parameters() - 1) < 0.05  # "the same size"
