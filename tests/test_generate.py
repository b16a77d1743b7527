"""The generation package: the one logits filter against a numpy reference, greedy and seeded
draws through it, the token loop of a stateful model, the bag and n-gram-block constraints of
the step decoders, shallow fusion with an n-gram (the plain model at weight 0, the n-gram's
order under a uniform model, scores that add exactly), reranking by mutual information, the
decoding as a value, and the tune rules that the network and Kneser-Ney samplers both obey
(one protocol)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from rnnkit.baselines.kneser_ney import KneserNey
from rnnkit.errors import RnnkitError
from rnnkit.generate.constraints import AllOf, BagConstraint, NoRepeatNgram, NotEmpty, TokenRules
from rnnkit.generate.decoding import Decoding
from rnnkit.generate.filters import filter_logits
from rnnkit.generate.fusion import ShallowFusion
from rnnkit.generate.rerank import Candidate, mmi_best, mmi_score
from rnnkit.generate.sampling import draw, sample_next, sample_tokens
from rnnkit.generate.search import beam_search, greedy, sample

# -- the filter against an independent reference -----------------------------------------------


def reference(z: np.ndarray, temperature: float, top_k: int | None, top_p: float | None,
              allowed: np.ndarray | None) -> np.ndarray:  # fmt: skip
    """Probabilities (V,) of one row, written from the definitions with numpy in float64."""
    z = np.where(allowed, z, -np.inf) if allowed is not None else z.astype(np.float64)
    z = z / temperature
    if top_k:
        kth = np.sort(z)[::-1][min(top_k, len(z)) - 1]
        z = np.where(z >= kth, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    if top_p is not None:
        order = np.argsort(-p, kind="stable")
        above = np.concatenate([[0.0], np.cumsum(p[order])[:-1]])  # mass ranked above each
        keep = np.zeros(len(p), dtype=bool)
        keep[order] = above < top_p  # the smallest most likely set whose mass reaches top_p
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    return p


SETTINGS = [(1.0, None, None), (0.5, None, None), (2.0, 3, None), (1.0, None, 0.6),
            (0.7, 5, 0.8), (1.3, 1, None), (1.0, 20, 0.999), (0.9, None, 0.05)]  # fmt: skip


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("setting", SETTINGS)
def test_filter_matches_a_numpy_reference_for_one_row_and_a_batch(setting, masked):
    temperature, top_k, top_p = setting
    g = torch.Generator().manual_seed(0)
    logits = 2 * torch.randn(4, 12, dtype=torch.float64, generator=g)  # (N, V)
    allowed = torch.rand(4, 12, generator=g) > 0.3 if masked else None
    allowed_rows = [None] * 4 if allowed is None else list(allowed)
    batch = filter_logits(logits, temperature, top_k, top_p, allowed).softmax(-1)  # (N, V)
    for r in range(4):
        row = filter_logits(logits[r], temperature, top_k, top_p, allowed_rows[r]).softmax(-1)
        ok = None if allowed is None else allowed[r].numpy()
        want = reference(logits[r].numpy(), temperature, top_k, top_p, ok)
        # float64 throughout: only rounding separates the two (tolerance 1e-12)
        np.testing.assert_allclose(batch[r].numpy(), want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(row.numpy(), want, rtol=0, atol=1e-12)
        assert ((batch[r] == 0) == torch.from_numpy(want == 0)).all()  # the same ids dropped


def test_filter_keeps_ties_with_the_kth_and_refuses_temperature_zero():
    z = torch.tensor([1.0, 3.0, 1.0, 0.0])
    assert torch.isneginf(filter_logits(z, top_k=2)).tolist() == [False, False, False, True]
    with pytest.raises(RnnkitError, match="greedy"):
        filter_logits(z, temperature=0)


def test_greedy_is_the_argmax_of_what_is_allowed_and_draws_nothing():
    logits = torch.tensor([[0.1, 3.0, 2.0, -1.0], [5.0, 0.0, 1.0, 2.0]])
    allowed = torch.tensor([True, False, True, True])
    g = torch.Generator().manual_seed(0)
    before = g.get_state()
    assert draw(logits, 0, top_k=1, top_p=0.1, allowed=allowed, generator=g).tolist() == [2, 0]
    assert draw(logits, 0).tolist() == [1, 0]
    assert sample_next(logits[0], 0) == 1
    assert torch.equal(g.get_state(), before)


def test_seeded_draws_follow_the_filtered_probabilities():
    n = 20_000
    logits = torch.tensor([1.5, 0.2, -0.3, 1.0, 0.9, -2.0, 0.0])
    allowed = torch.tensor([True, True, True, False, True, True, True])
    kw = dict(temperature=0.8, top_k=5, top_p=0.9, allowed=allowed)
    p = filter_logits(logits, **kw).softmax(-1).double()  # (V,)
    assert 0 < int((p > 0).sum()) < 5  # both truncations and the mask take ids away
    g = torch.Generator().manual_seed(1)
    ids = draw(logits.expand(n, -1), generator=g, **kw)  # (n,)
    counts = torch.bincount(ids, minlength=len(logits)).double()
    sigma = (n * p * (1 - p)).sqrt()
    assert ((counts - n * p).abs() <= 3 * sigma).all(), (counts, n * p)
    assert (counts[p == 0] == 0).all()


def test_sample_next_is_a_one_row_draw_on_the_same_stream():
    logits = torch.randn(9, generator=torch.Generator().manual_seed(2))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    one = [sample_next(logits, 1.2, 6, 0.9, g1) for _ in range(50)]
    rows = [int(draw(logits[None], 1.2, 6, 0.9, generator=g2)[0]) for _ in range(50)]
    assert one == rows


class Counter(torch.nn.Module):
    """A stateful "language model" sure that ``id + 1`` follows ``id``; its state counts the
    tokens it was fed, and it checks that the state it gets back is the one it gave."""

    V = 7

    def forward(self, x, state=None):
        fed = 0 if state is None else state
        logits = torch.full((*x.shape, self.V), -30.0)
        logits.scatter_(-1, (x[..., None] + 1) % self.V, 30.0)  # (1, T, V)
        return logits, fed + x.shape[1]


def test_the_token_loop_feeds_each_draw_back_with_the_carried_state():
    model = Counter()
    calls = []
    real = model.forward
    model.forward = lambda x, state=None: calls.append((x.tolist(), state)) or real(x, state)
    got = list(sample_tokens(model, [2, 4], 5, temperature=1.0))
    assert got == [5, 6, 0, 1, 2]
    assert calls[0] == ([[2, 4]], None)
    assert [c[1] for c in calls[1:]] == [2, 3, 4, 5, 6]  # the state carried, one token a call
    assert [c[0] for c in calls[1:]] == [[[t]] for t in got]


# -- the bag constraint ----------------------------------------------------------------------

EOS = 1


def test_the_bag_allows_each_token_up_to_its_count_and_eos_once_empty():
    counts = torch.tensor([[0, 0, 2, 1, 0], [0, 0, 0, 0, 1]])  # two of id 2, one of 3; one of 4
    bag = BagConstraint(counts, EOS)
    assert bag.allowed().tolist() == [[False, False, True, True, False],
                                      [False, False, False, False, True]]  # fmt: skip
    after = bag.advance(torch.tensor([2, 4]))
    assert counts.tolist() == [[0, 0, 2, 1, 0], [0, 0, 0, 0, 1]]  # advance leaves it as it was
    assert after.allowed().tolist() == [[False, False, True, True, False],
                                        [False, True, False, False, False]]  # fmt: skip
    after = after.advance(torch.tensor([3, EOS])).advance(torch.tensor([2, EOS]))
    assert after.counts.tolist() == [[0] * 5] * 2  # EOS taken without a count stays at 0
    assert after.allowed().tolist() == [[False, True, False, False, False]] * 2
    beams = bag.select(torch.tensor([1, 0, 0]))  # beams follow their parents
    assert beams.advance(torch.tensor([4, 2, 3])).counts.tolist() == [
        [0, 0, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 2, 0, 0]]  # fmt: skip


@dataclass
class Rows:
    rows: torch.Tensor

    def select(self, index: torch.Tensor) -> Rows:
        return Rows(self.rows[index])


class Table:
    """A step model: next-token logits from a fixed random table of the previous token."""

    def __init__(self, V: int) -> None:
        self.logits = 3 * torch.randn(V, V, generator=torch.Generator().manual_seed(4))

    def start(self, src, lengths):
        return Rows(torch.arange(src.shape[0]))

    def step(self, tokens, st):
        return self.logits[tokens], st, None


def test_every_decoder_keeps_to_the_bag():
    V, bos = 8, 0
    src = torch.tensor([[2, 3, 3, 5], [7, 6, 0, 0], [4, 4, 4, 2]])
    lengths = torch.tensor([4, 2, 4])
    counts = torch.zeros(3, V, dtype=torch.long).scatter_add_(1, src, torch.ones_like(src))
    counts[1, 0] = 0  # padding
    bag = BagConstraint(counts, EOS)
    g = torch.Generator().manual_seed(5)
    decoded = [
        greedy(Table(V), src, lengths, bos, EOS, 6, constraint=bag),
        sample(Table(V), src, lengths, bos, EOS, 6, 1.5, constraint=bag, generator=g),
        beam_search(Table(V), src, lengths, bos, EOS, 6, beam=3, constraint=bag),
    ]
    for hyps in decoded:
        for r, h in enumerate(hyps):
            assert sorted(h.tokens) == sorted(src[r, : lengths[r]].tolist())


# -- shallow fusion with an n-gram ---------------------------------------------------------------

SINK, BOS, V = 0, 8, 9  # padding (no bag holds it); the begin token, never in a bag


def bag_of(src: torch.Tensor, V: int) -> torch.Tensor:
    counts = torch.zeros(src.shape[0], V, dtype=torch.long).scatter_add_(
        1, src, torch.ones_like(src)
    )
    counts[:, SINK] = 0  # padding
    return counts


def toy_lm() -> KneserNey:
    g = np.random.default_rng(3)
    seqs = [[*g.choice(np.arange(2, BOS), size=int(g.integers(2, 6))).tolist(), EOS]
            for _ in range(40)]  # fmt: skip
    return KneserNey(3, V, BOS, exclude=[SINK]).fit(seqs)


class Uniform:
    """A step model that has no preference: every token scores the same."""

    def __init__(self, V: int) -> None:
        self.V = V

    def start(self, src, lengths):
        return Rows(torch.arange(src.shape[0]))

    def step(self, tokens, st):
        return torch.zeros(len(tokens), self.V), st, None


SRC = torch.tensor([[2, 3, 3, 5], [7, 6, 0, 0], [4, 6, 5, 2]])
LENGTHS = torch.tensor([4, 2, 4])


@pytest.mark.parametrize("with_candidates", [False, True])
def test_fusion_at_weight_zero_decodes_as_the_model_alone(with_candidates):
    counts = bag_of(SRC, V)
    candidates = (counts > 0) | (torch.arange(V) == EOS) if with_candidates else None
    fused = ShallowFusion(Table(V), toy_lm(), 0.0, SINK, candidates)
    for search in (greedy, lambda m, *a, **k: beam_search(m, *a, beam=3, **k)):
        plain = search(Table(V), SRC, LENGTHS, BOS, EOS, 6, constraint=BagConstraint(counts, EOS))
        both = search(fused, SRC, LENGTHS, BOS, EOS, 6, constraint=BagConstraint(counts, EOS))
        assert [h.tokens for h in both] == [h.tokens for h in plain]
        assert [h.logprob for h in both] == pytest.approx([h.logprob for h in plain], abs=1e-5)


def test_fused_scores_add_the_weighted_ngram_exactly_after_the_log_softmax():
    weight = 0.7
    lm, table = toy_lm(), Table(V)
    counts = bag_of(SRC, V)
    candidates = (counts > 0) | (torch.arange(V) == EOS)
    fused = ShallowFusion(table, lm, weight, SINK, candidates)
    st = fused.start(SRC, LENGTHS)
    logits, st, _ = fused.step(torch.full((3,), BOS), st)  # the begin token
    logits, st, _ = fused.step(torch.tensor([3, 6, 4]), st)  # each row emitted one token
    got = logits.log_softmax(-1)  # what the search makes of them
    for r, first in enumerate([3, 6, 4]):
        ids = np.flatnonzero(candidates[r].numpy())
        want = (table.logits[first].log_softmax(-1)[ids].double()
                + weight * torch.from_numpy(np.log(lm.distribution([first], ids))))  # fmt: skip
        assert got[r, ids].double() == pytest.approx(want, abs=1e-5)
        others = [v for v in range(V) if v not in ids and v != SINK]  # the model's score alone
        assert got[r, others] == pytest.approx(table.logits[first].log_softmax(-1)[others],
                                               abs=1e-5)  # fmt: skip


@pytest.mark.parametrize("with_candidates", [False, True])
def test_fusion_with_a_uniform_model_finds_the_ngrams_best_permutation(with_candidates):
    lm = toy_lm()
    counts = bag_of(SRC, V)
    candidates = (counts > 0) | (torch.arange(V) == EOS) if with_candidates else None
    fused = ShallowFusion(Uniform(V), lm, 1.0, SINK, candidates)
    hyps = beam_search(fused, SRC, LENGTHS, BOS, EOS, 6, beam=24,
                       constraint=BagConstraint(counts, EOS))  # fmt: skip

    def logp(seq) -> float:
        seq = [*seq, EOS]
        return sum(float(np.log(lm.distribution(seq[:i])[w])) for i, w in enumerate(seq))

    for r, h in enumerate(hyps):
        words = SRC[r, : LENGTHS[r]].tolist()
        best = max(set(itertools.permutations(words)), key=logp)
        assert h.tokens == list(best)
        assert h.logprob == pytest.approx(logp(best) - (len(words) + 1) * np.log(V), abs=1e-4)


def test_fusion_refuses_a_negative_weight_and_candidates_of_other_rows():
    with pytest.raises(RnnkitError, match="at least 0"):
        ShallowFusion(Table(V), toy_lm(), -1.0, SINK)
    fused = ShallowFusion(Table(V), toy_lm(), 1.0, SINK, torch.ones(2, V, dtype=torch.bool))
    with pytest.raises(RnnkitError, match="2 rows of candidates for 3 sources"):
        fused.start(SRC, LENGTHS)


# -- the n-gram block -------------------------------------------------------------------------


def repeats(tokens: list[int], n: int) -> bool:
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_the_block_refuses_exactly_the_tokens_that_would_repeat_an_ngram(n):
    V, N, T = 6, 5, 9
    g = torch.Generator().manual_seed(n)
    history = torch.randint(0, 3, (N, T), generator=g)  # few ids: many repeats; EOS (1) too
    block = NoRepeatNgram(n, N, V, EOS)
    for t in range(T + 1):
        ok = block.allowed()
        for r in range(N):
            h = history[r, :t].tolist()
            seen = {tuple(h[i : i + n]) for i in range(len(h) - n + 1)}
            # by hand: v is refused when h + [v] ends with an n-gram h already holds
            refused = [v != EOS and len(h) + 1 >= n and tuple((h + [v])[-n:]) in seen
                       for v in range(V)]  # fmt: skip
            assert ok[r].tolist() == [not x for x in refused], (n, r, h)
        if t < T:
            block = block.advance(history[:, t])
    picked = block.select(torch.tensor([3, 3, 0]))  # beams follow their parents
    assert picked.allowed().tolist() == ok[[3, 3, 0]].tolist()


def loop_table() -> Table:
    """After BOS 4; 4 and 5 follow each other, 6 is each one's second choice, EOS follows 6."""
    table = Table(8)
    table.logits.fill_(0.0)
    table.logits[0, 4] = 5.0
    table.logits[4, 5], table.logits[4, 6] = 5.0, 3.0
    table.logits[5, 4], table.logits[5, 6] = 5.0, 2.0
    table.logits[6, EOS] = 5.0
    return table


@pytest.mark.parametrize(("n", "want"), [(0, [4, 5, 4, 5, 4, 5, 4, 5]), (2, [4, 5, 4, 6]),
                                         (3, [4, 5, 4, 5, 6])])  # fmt: skip
def test_greedy_with_the_block_takes_the_next_best_token_where_a_repeat_would_come(n, want):
    src, lengths = torch.zeros(1, 1, dtype=torch.long), torch.ones(1, dtype=torch.long)
    block = NoRepeatNgram(n, 1, 8, EOS) if n else None
    (h,) = greedy(loop_table(), src, lengths, 0, EOS, 8, constraint=block)
    assert h.tokens == want


def test_no_decoder_repeats_an_ngram_under_the_block_though_each_does_without_it():
    V, bos, n = 8, 0, 2
    src, lengths = torch.zeros(6, 1, dtype=torch.long), torch.ones(6, dtype=torch.long)
    table = Table(V)
    table.logits[:, EOS] = -10.0  # long outputs: room to repeat
    for block in (None, NoRepeatNgram(n, 6, V, EOS)):
        g = torch.Generator().manual_seed(0)
        decoded = [
            greedy(table, src, lengths, bos, EOS, 12, constraint=block),
            sample(table, src, lengths, bos, EOS, 12, 1.0, constraint=block, generator=g),
            beam_search(table, src, lengths, bos, EOS, 12, beam=3, constraint=block),
        ]
        found = [any(repeats(h.tokens, n) for h in hyps) for hyps in decoded]
        assert found == ([True] * 3 if block is None else [False] * 3)


def test_a_block_of_size_zero_is_refused():
    with pytest.raises(RnnkitError, match="at least 1"):
        NoRepeatNgram(0, 1, 5, EOS)


# -- reranking by mutual information -----------------------------------------------------------

# a generic reply (likely whatever the line: high p_LM), a long specific one, one between
GENERIC, SPECIFIC, BETWEEN = (
    Candidate(-2.0, -1.0, 1),
    Candidate(-4.0, -6.0, 4),
    Candidate(-3.0, -3.5, 2),
)


@pytest.mark.parametrize(("lam", "gamma", "scores", "best", "best_reversed"), [
    (0.0, 0.0, [-2.0, -4.0, -3.0], GENERIC, GENERIC),  # the model's most probable
    (0.25, 0.0, [-1.75, -2.5, -2.125], GENERIC, GENERIC),
    (0.5, 0.0, [-1.5, -1.0, -1.25], SPECIFIC, SPECIFIC),  # the LM's favourite loses
    (0.0, 1.0, [-1.0, 0.0, -1.0], SPECIFIC, SPECIFIC),  # the length bonus alone
    (0.5, -0.25, [-1.75, -2.0, -1.75], GENERIC, BETWEEN),  # a tie: the first of the two
])  # fmt: skip
def test_mmi_scores_and_orders_candidates_as_the_formula_says(lam, gamma, scores, best,
                                                              best_reversed):  # fmt: skip
    group = [GENERIC, SPECIFIC, BETWEEN]
    assert [mmi_score(c, lam, gamma) for c in group] == pytest.approx(scores)
    i, j = mmi_best([group, group[::-1]], lam, gamma)
    assert (group[i], group[::-1][j]) == (best, best_reversed)


# -- the decoding as a value -------------------------------------------------------------------


def test_a_decoding_names_itself_and_goes_through_json_unchanged():
    beam = Decoding(beam=5, no_repeat=3)
    mmi = Decoding(temperature=1.0, top_p=0.9, samples=8, mmi=0.5, length_bonus=1.0, seed=0)
    assert beam.name() == "beam 5, no-repeat 3" and Decoding(beam=1).name() == "greedy"
    assert mmi.name() == "best of 8 nucleus 0.9 samples by MMI (lambda 0.5, gamma 1)"
    for d in (beam, mmi):
        assert Decoding.from_dict(json.loads(json.dumps(d.to_dict()))) == d


@pytest.mark.parametrize(("given", "message"), [
    ({"beam": 0}, "beam must be in"),
    ({"samples": 4}, "need a temperature"),
    ({"temperature": 1.0, "mmi": 0.5}, "give samples above 1"),
    ({"top_p": 0.0, "temperature": 1.0}, "top_p must be in"),
    ({"beams": 5}, "not a decoding"),
])  # fmt: skip
def test_a_bad_decoding_is_a_one_line_error(given, message):
    with pytest.raises(RnnkitError, match=message):
        Decoding.from_dict(given)


# -- the tune rules: one protocol for both tune samplers ---------------------------------------


class OnlyEven:
    """Rules that refuse every odd id, counting the draws they refuse."""

    def __init__(self) -> None:
        self.refused, self.pushed = 0, []

    def allows(self, token: int) -> bool:
        self.refused += token % 2
        return token % 2 == 0

    def push(self, token: int) -> None:
        self.pushed.append(token)


def test_the_music_rules_are_the_shared_protocol():
    from rnnkit.tasks.music.sampling import RulesById

    assert isinstance(RulesById(["M:6/8", "K:Cmaj", "c"]), TokenRules)
    assert isinstance(OnlyEven(), TokenRules)


def test_the_network_sampler_redraws_what_the_rules_refuse_from_the_rest():
    from rnnkit.tasks.music.sampling import _obey

    n, V = 6000, 6
    logits = torch.tensor([0.0, 1.0, -0.5, 0.3, 0.8, 0.2]).expand(n, -1)  # (n, V)
    allowed = torch.tensor([True, True, True, True, False, True])  # id 4 is banned
    g = torch.Generator().manual_seed(6)
    ids = draw(logits, 0.9, allowed=allowed, generator=g)
    first = ids.clone()
    ruled = [OnlyEven() for _ in range(n)]
    _obey(ruled, ids, logits, [False] * n, 0.9, g, allowed)
    assert all(r.pushed == [int(t)] for r, t in zip(ruled, ids, strict=True))
    assert sum(r.refused for r in ruled) >= int((first % 2).sum())  # each refusal counted
    # drawing again without what was refused leaves the allowed ids in their proportions
    p = filter_logits(logits[0], 0.9, allowed=allowed & (torch.arange(V) % 2 == 0)).softmax(-1)
    counts = torch.bincount(ids, minlength=V).double()
    sigma = (n * p * (1 - p)).sqrt()
    assert ((counts - n * p).abs() <= 3 * sigma).all(), (counts, n * p)


def test_the_ngram_sampler_redraws_what_the_rules_refuse_from_the_rest():
    kn = KneserNey(2, 6, bos=5).fit([[0, 1, 2, 3, 4], [1, 3, 1, 3, 4], [2, 2, 0, 4]])
    n, temperature = 4000, 0.7
    rng = np.random.default_rng(0)
    firsts, refused = [], 0
    for _ in range(n):
        rules = OnlyEven()
        (token,) = kn.sample(rng, end=4, max_len=1, temperature=temperature, rules=rules)
        assert rules.pushed == [token]
        firsts.append(token)
        refused += rules.refused
    p = kn.distribution([]) ** (1 / temperature)
    p[1::2] = 0.0  # p ** (1/T) over what the rules allow
    p /= p.sum()
    counts = np.bincount(firsts, minlength=6)
    sigma = np.sqrt(n * p * (1 - p))
    assert (np.abs(counts - n * p) <= 3 * sigma).all(), (counts, n * p)
    assert refused > 0
    greedy = kn.sample(np.random.default_rng(0), 4, 5, temperature=0, rules=OnlyEven())
    assert greedy[0] == int(np.argmax(p)) and all(t % 2 == 0 for t in greedy)


def test_not_empty_refuses_only_the_first_end_and_all_of_combines():
    # a table whose first choice after BOS is the end token: greedy would write nothing
    table = Table(8)
    table.logits[0, EOS] = 50.0
    src, lengths = torch.tensor([[4, 5], [6, 4]]), torch.tensor([2, 2])
    assert all(h.tokens == [] for h in greedy(table, src, lengths, 0, EOS, 5))
    for search in (greedy, lambda *a, **k: beam_search(*a, beam=3, **k)):
        hyps = search(table, src, lengths, 0, EOS, 5, constraint=NotEmpty(2, 8, EOS))
        assert all(len(h.tokens) >= 1 for h in hyps)
    both = AllOf(NotEmpty(2, 8, EOS), NoRepeatNgram(1, 2, 8, EOS)).advance(torch.tensor([4, 6]))
    assert both.allowed().tolist() == [[v != 4 for v in range(8)], [v != 6 for v in range(8)]]
    assert both.select(torch.tensor([1, 1, 0])).allowed()[0, 6].item() is False
