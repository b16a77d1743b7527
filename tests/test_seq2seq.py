"""The encoder-decoder, its decoders and the reorder task: attention gradients in float64, the
packed encoder against one row at a time, beam search against greedy and against exhaustive
enumeration, padding never attended, and the reorder task end to end through the CLI."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from rnnkit.data import read_text
from rnnkit.generate.constraints import BagConstraint
from rnnkit.generate.search import beam_search, greedy, sample
from rnnkit.models.decoder import Attention
from rnnkit.models.recurrent import encode_packed
from rnnkit.models.seq2seq import BOS, EOS, PAD, Seq2Seq, Seq2SeqConfig
from rnnkit.runs.driver import load_run
from rnnkit.tasks.reorder import BEAMS, LM_WEIGHTS, BigramOrder, decoding_name, sentences
from tests.test_cli_lm import assert_user_error, cli


def tiny(**kw) -> Seq2Seq:
    torch.manual_seed(0)
    c = dict(src_vocab_size=12, tgt_vocab_size=12, hidden_size=6, embed_dim=5, num_layers=2)
    return Seq2Seq(Seq2SeqConfig(**{**c, **kw})).eval()


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([5, 2, 4])
    src = torch.randint(4, 12, (3, 5), generator=g)
    src[torch.arange(5)[None, :] >= lengths[:, None]] = PAD
    return src, lengths


@pytest.mark.parametrize("kind", ["additive", "general"])
def test_attention_gradients_match_finite_differences_in_float64(kind):
    torch.manual_seed(0)
    att = Attention(kind, 4, 6).double()
    q = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)
    assert torch.autograd.gradcheck(lambda q, k: att(q, k, mask), (q, keys), atol=1e-7)
    names = [n for n, _ in att.named_parameters()]

    def of_weights(*p):
        return torch.func.functional_call(att, dict(zip(names, p, strict=True)), (q, keys, mask))

    assert torch.autograd.gradcheck(of_weights, tuple(att.parameters()), atol=1e-7)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_packed_encoder_equals_one_row_at_a_time(cell):
    m = tiny(cell=cell).double()
    src, lengths = padded_batch()
    x = m.src_embed(src)
    out, h_n = encode_packed(m.encoder, x, lengths)
    for r, n in enumerate(lengths.tolist()):
        alone, state = m.encoder(x[r : r + 1, :n])  # no padding at all
        h = state[0] if cell == "lstm" else state
        torch.testing.assert_close(out[r, :n], alone[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(h_n[:, r], h[:, 0], rtol=0, atol=1e-12)
        assert (out[r, n:] == 0).all()


@pytest.mark.parametrize("attention", ["additive", "general"])
def test_padding_gets_no_attention_and_changes_no_output(attention):
    m = tiny(attention=attention)
    src, lengths = padded_batch()
    tgt = torch.randint(4, 12, (3, 4))
    hyps = greedy(m, src, lengths, BOS, EOS, 4)
    for r, n in enumerate(lengths.tolist()):
        w = hyps[r].attention  # (T_out, S)
        assert (w[:, n:] == 0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(len(w)), atol=1e-6, rtol=0)
        alone = m(src[r : r + 1, :n], lengths[r : r + 1], tgt[r : r + 1])
        torch.testing.assert_close(m(src, lengths, tgt)[r], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attention", ["none", "general"])
def test_beam_of_one_top_k_of_one_and_tiny_top_p_are_greedy(attention):
    m = tiny(attention=attention, tie_embeddings=True)
    src, lengths = padded_batch()
    g = greedy(m, src, lengths, BOS, EOS, 6)
    b = beam_search(m, src, lengths, BOS, EOS, 6, beam=1, alpha=0.0)
    gen = torch.Generator().manual_seed(0)
    k1 = sample(m, src, lengths, BOS, EOS, 6, temperature=2.0, top_k=1, generator=gen)
    p0 = sample(m, src, lengths, BOS, EOS, 6, temperature=2.0, top_p=1e-6, generator=gen)
    for x, y, z, w in zip(g, b, k1, p0, strict=True):
        assert x.tokens == y.tokens == z.tokens == w.tokens
        assert x.logprob == pytest.approx(y.logprob, abs=1e-5)


# -- a step model whose every sequence's probability can be enumerated ----------------------


@dataclass
class TableState:
    rows: torch.Tensor  # (N,): which source row each decoding row belongs to

    def select(self, index: torch.Tensor) -> TableState:
        return TableState(self.rows[index])


class MarkovTable:
    """p(y_t | y_{t-1}) from a fixed random table: every sequence's probability is a product."""

    def __init__(self, V: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.logits = 3 * torch.randn(V, V, generator=g)  # (previous token, next token)

    def start(self, src, lengths):
        return TableState(torch.arange(src.shape[0]))

    def step(self, tokens, st):
        return self.logits[tokens], st, None

    def logprob(self, seq: list[int]) -> float:
        logp = self.logits.log_softmax(-1)
        return float(sum(logp[a, b] for a, b in zip([BOS, *seq[:-1]], seq, strict=True)))


def exhaustive_best(table: MarkovTable, V: int, max_len: int, alpha: float) -> tuple:
    """(score, tokens) of the best of every sequence: EOS-ended up to max_len, or cut there."""
    best = (-math.inf, None)
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=n):
            if EOS in seq[:-1] or (n < max_len and seq[-1] != EOS):
                continue
            lp = table.logprob(list(seq))
            best = max(best, (lp / n**alpha, [t for t in seq if t != EOS]))
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_search_returns_the_exhaustive_best(seed, alpha):
    V, max_len = 5, 3
    table = MarkovTable(V, seed)
    src, lengths = torch.zeros(2, 1, dtype=torch.long), torch.ones(2, dtype=torch.long)
    score, tokens = exhaustive_best(table, V, max_len, alpha)
    # V**(max_len - 1) beams keep every prefix: the search is exhaustive and must find the best
    (h, _) = beam_search(table, src, lengths, BOS, EOS, max_len, beam=V ** (max_len - 1),
                         alpha=alpha)  # fmt: skip
    assert h.tokens == tokens
    assert h.score == pytest.approx(score, abs=1e-5)
    ends = [EOS] if len(h.tokens) < max_len else []
    assert h.logprob == pytest.approx(table.logprob(h.tokens + ends), abs=1e-5)


def test_beam_finds_what_greedy_misses():
    # after BOS: 'a' (4) is likelier than 'b' (5), but 'a' is followed by a near-uniform choice
    # while 'b' is followed by EOS for sure: b EOS (0.4) beats a x EOS (0.6 * 0.2 = 0.12)
    table = MarkovTable(6, 0)
    big, low = 20.0, -20.0
    table.logits.fill_(low)
    table.logits[BOS, 4], table.logits[BOS, 5] = math.log(0.6), math.log(0.4)
    table.logits[4, :] = 0.0
    table.logits[5, EOS] = big
    table.logits[:, BOS] = table.logits[:, PAD] = table.logits[:, 0] = low
    src, lengths = torch.zeros(1, 1, dtype=torch.long), torch.ones(1, dtype=torch.long)
    (g,) = greedy(table, src, lengths, BOS, EOS, 3)
    (b,) = beam_search(table, src, lengths, BOS, EOS, 3, beam=2, alpha=0.0)
    assert g.tokens[0] == 4 and b.tokens == [5]
    assert b.logprob > g.logprob
    score, tokens = exhaustive_best(table, 6, 3, 0.0)
    assert b.tokens == tokens and b.score == pytest.approx(score, abs=1e-5)


def test_bag_keeps_the_output_a_permutation_of_the_input():
    m = tiny()
    src, lengths = padded_batch()
    bag = torch.zeros(3, 12, dtype=torch.long).scatter_add_(1, src, torch.ones_like(src))
    bag[:, PAD] = 0
    hyps = beam_search(m, src, lengths, BOS, EOS, 6, beam=3, constraint=BagConstraint(bag, EOS))
    for r, h in enumerate(hyps):
        assert sorted(h.tokens) == sorted(src[r, : lengths[r]].tolist())


def test_bigram_baseline_finds_the_best_permutation_by_brute_force():
    text = read_text(None)[:20000]
    train = sentences(text, 4, 8)
    bigram = BigramOrder(train)
    g = torch.Generator().manual_seed(0)

    def total(seq: list[str]) -> float:
        s = ["<s>", *seq, "</s>"]
        return sum(bigram.logp(a, b) for a, b in zip(s, s[1:], strict=False))

    # up to 5 words, at most 30 (used set, last word) states exist per step: beam 64 is exact
    short = [w for w in train if len(w) <= 5][:15]
    assert len(short) == 15
    for words in short:
        bag = [words[i] for i in torch.randperm(len(words), generator=g).tolist()]
        best = max(total(list(p)) for p in itertools.permutations(bag))
        assert total(bigram.order(bag)) == pytest.approx(best, abs=1e-9)


# -- the reorder task through the command line -----------------------------------------------


@pytest.fixture(scope="module")
def reorder_run(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("reorder")
    text = read_text(None)
    (d / "train.txt").write_text(text[:15000])
    (d / "new.txt").write_text(text[40000:42000])
    code = main_ok("train", "reorder", "--data", d / "train.txt", "--max-steps", "4",
                   "--eval-every", "2", "--hidden-size", "8", "--embed-dim", "8",
                   "--out", d / "run", "--quiet", "--json")  # fmt: skip
    assert code == 0
    return d / "run", d / "new.txt"


def main_ok(*argv) -> int:
    from rnnkit.cli.main import main

    return main([str(a) for a in argv])


def test_reorder_trains_predicts_and_evaluates_through_the_cli(reorder_run, capsys):
    run, new = reorder_run
    results = json.loads((run / "results.json").read_text())
    figures = [results[p] for p in ("test", "model", "greedy")] + [
        results["baselines"][b] for b in ("bigram", "kneser_ney")]  # fmt: skip
    for f in figures:
        assert 0 <= f["exact_match"] <= 1 and 0 <= f["bleu"] <= 100
    decoding = results["decoding"]
    assert decoding["beam"] in BEAMS and decoding["lm_weight"] in LM_WEIGHTS
    assert results["test"]["decoding"] == decoding_name(decoding["beam"], decoding["lm_weight"])
    assert len(decoding["validation"]) == len(LM_WEIGHTS) + len(BEAMS) - 1
    assert json.loads((run / "ngram.json").read_text())["order"] == 4
    assert (run / "attention.png").stat().st_size > 1000
    # the loaded run decodes its test split as the test did: the n-gram and the choice kept
    again = load_run(run).evaluate()
    assert {k: again[k] for k in ("exact_match", "bleu")} == pytest.approx(
        {k: results["test"][k] for k in ("exact_match", "bleu")})  # fmt: skip
    code, out, err = cli(capsys, "predict", run, "the king of denmark", "zyzzyva is the king",
                         "--json")  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)
    assert sorted(rows[0]["output"].split()) == sorted("the king of denmark".split())
    assert sorted(rows[1]["output"].split()) == sorted("zyzzyva is the king".split())
    code, out, err = cli(capsys, "evaluate", run, "--data", new, "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["sentences"] > 0 and 0 <= r["exact_match"] <= 1
    # a number setting of the new file is parsed as the number it is, not passed as a string
    code, out, err = cli(capsys, "evaluate", run, "--data", new, "--min-words", "5",
                         "--max-words", "6", "--json")  # fmt: skip
    assert code == 0, err
    assert 0 < json.loads(out)["sentences"] < r["sentences"]
    assert_user_error(cli(capsys, "evaluate", run, "--data", new, "--min-words", "x"), "int")
    png = run.parent / "attention-cli.png"
    code, out, err = cli(capsys, "reorder", run, "of king the denmark", "--attention", png)
    assert code == 0, err
    assert sorted(out.split()) == sorted("the king of denmark".split())
    assert png.stat().st_size > 1000


def test_reorder_takes_beam_and_refuses_sampling(reorder_run, capsys):
    run, _ = reorder_run
    code, alias, err = cli(capsys, "reorder", run, "of king the denmark", "--beam", "1", "--json")
    assert code == 0, err
    code, predicted, err = cli(capsys, "predict", run, "of king the denmark", "--beam", "1",
                               "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(predicted) == json.loads(alias)
    refused = cli(capsys, "predict", run, "of king the denmark", "--temperature", "0.5")
    assert_user_error(
        refused, "a reorder run takes no --temperature (its decoding options: --beam)"
    )


def test_reorder_bad_input_is_one_line(reorder_run, tmp_path, capsys):
    run, _ = reorder_run
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_user_error(cli(capsys, "train", "reorder", "--data", empty, "--out", tmp_path / "r"),
                      "empty")  # fmt: skip
    assert_user_error(cli(capsys, "predict", run, "qwxz plmk zzyzx"), "vocabulary")
    assert_user_error(cli(capsys, "reorder", run, " ".join(["the"] * 10000)), "10000 words")
    assert_user_error(cli(capsys, "predict", run, "!!! ..."), "no word")
    short = tmp_path / "short.txt"
    short.write_text("Yes. No. Go on.\n")
    assert_user_error(cli(capsys, "evaluate", run, "--data", short), "no sentence")
    assert_user_error(cli(capsys, "train", "reorder", "--min-words", "6", "--max-words", "5",
                          "--out", tmp_path / "r2"), "min_words")  # fmt: skip
