"""The bar rules a sampler can follow (``rnnkit.data.abc_rules``): they let every well-formed
tune through, and everything they let through is well formed by the checks the figures use."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from rnnkit.baselines.kneser_ney import KneserNey
from rnnkit.data.abc import TuneError, read_collection, read_tune, tune_text
from rnnkit.data.abc_rules import RuleMasks, TuneRules
from rnnkit.scoring.tunes import bar_fault
from rnnkit.tasks.music.vocab import SPECIALS
from tests.music_data import write_tunes
from tests.test_music import AIR, JIG, REEL

VOCAB = ["M:6/8", "M:4/4", "M:3/4", "K:Cmaj", "K:Cdor",
         "|", "||", "|]", "|:", ":|", "::", "|1", "|2", ":|2",
         "C", "D", "E", "G", "c", "^f", "_B", "z", "a'",
         "2", "3", "4", "6", "/2", "/4", "3/2",
         ">", "<", "(3", "</s>"]  # fmt: skip


def rules_after(tokens: list[str]) -> TuneRules:
    rules = TuneRules(VOCAB)
    for t in tokens:
        rules.push(t)
    return rules


def test_every_token_of_a_well_formed_tune_is_allowed(tmp_path):
    tunes, _ = read_collection(write_tunes(tmp_path / "t.abc", 40).read_text())
    for tune in [*tunes, read_tune(JIG), read_tune(REEL), read_tune(AIR)]:
        assert bar_fault(tune.tokens) is None
        rules = TuneRules(VOCAB)
        for t in [*tune.tokens, "</s>"]:
            assert rules.allows(t), (t, tune.tokens)
            rules.push(t)


@pytest.mark.parametrize("seed", range(4))
def test_whatever_the_rules_let_through_is_well_formed(seed):
    """Tunes drawn uniformly from the allowed tokens: the most hostile model there is."""
    rng = random.Random(seed)
    for _ in range(50):
        rules, tokens = TuneRules(VOCAB), []
        while len(tokens) < 400:
            t = rng.choice([v for v in VOCAB if rules.allows(v)])
            if t == "</s>":
                break
            rules.push(t)
            tokens.append(t)
        else:
            continue  # not ended: nothing to check
        tune_text(tokens)  # reads back as ABC
        assert bar_fault(tokens) is None, tokens


def test_what_is_refused_and_why():
    jig = ["M:6/8", "K:Cmaj"]
    assert [t for t in VOCAB if TuneRules(VOCAB).allows(t)] == ["M:6/8", "M:4/4", "M:3/4"]
    assert [t for t in VOCAB if rules_after(["M:6/8"]).allows(t)] == ["K:Cmaj", "K:Cdor"]
    after_header = rules_after(jig)
    assert not after_header.allows("2")  # a length with no note before it
    assert not after_header.allows(">") and not after_header.allows("M:4/4")
    assert not after_header.allows("</s>")  # no full bar yet
    assert after_header.allows("|:") and after_header.allows("c")
    full = rules_after([*jig, "|:", "c", "6"])  # a whole 6/8 bar in one note
    assert not full.allows("c") and not full.allows("(3")  # no room for a note or a triplet
    assert not full.allows("2") and not full.allows(">")  # the note lengthened past the bar
    assert full.allows("|") and full.allows("</s>")
    assert not full.allows("/2")  # a second length token: only a note or rest takes one
    pickup = rules_after([*jig, "c"])  # the first bar may be short: a pickup
    assert pickup.allows("|") and pickup.allows("|:")
    mid = rules_after([*jig, "c", "|", "c", "6", "|", "c", "2"])  # mid-tune, 2 of 6 eighths
    assert not mid.allows("|")  # a short bar closed by a plain bar line
    assert mid.allows("||") and mid.allows(":|") and mid.allows("|1")  # next to a section line
    after_section = rules_after([*jig, "c", "6", "||", "c"])
    assert after_section.allows("|")  # a short bar opened by a section line
    nearly = rules_after([*jig, "c", "6", "|", "c", "4", "c", "3/2"])  # 1/2 eighth left
    assert nearly.allows("c")  # a note fits if a length token makes it short enough
    over = rules_after([*jig, "c", "6", "|", "c", "4", "c", "3/2", "c"])
    # only a length that fits, or "<", which halves the note (and lengthens the next)
    assert [t for t in VOCAB if over.allows(t)] == ["/2", "/4", "<"]
    # a triplet's three notes at the shortest length (/4) take 2 x 1/4 = 1/2 eighth
    assert rules_after([*jig, "c", "6", "|", "c", "4", "c", "3/2"]).allows("(3")  # 1/2 left
    assert not rules_after([*jig, "c", "6", "|", "c", "4", "c", "7/4"]).allows("(3")  # 1/4 left
    assert not rules_after([*jig, "c", "(3"]).allows("(3")  # its notes have not come
    broken = rules_after([*jig, "c", ">"])
    assert not broken.allows(">") and not broken.allows("</s>")


def test_a_note_is_refused_where_even_the_shortest_length_overflows():
    clipped = [v for v in VOCAB if v != "/4"]  # the shortest length is then /2
    tokens = ["M:6/8", "K:Cmaj", "c", "6", "|", "c", "4", "c", "3/2", "c", "/4"]  # 1/4 left
    rules = TuneRules(clipped)
    for t in tokens:
        rules.push(t)
    assert not rules.allows("c")  # a /2 note is 1/2 eighth: no room
    assert rules_after(tokens).allows("c")  # with /4 in the vocabulary, there is


def test_a_vocabulary_without_section_lines_never_dead_ends_the_sampler():
    from rnnkit.tasks.music.sampling import RulesById, _obey

    vocab = ["M:6/8", "K:Cmaj", "|", "c", "2", "</s>"]
    ruled = RulesById(vocab)
    for i in [0, 1, 3, 2, 3]:  # "c | c": mid-tune, one eighth into a 6/8 bar
        ruled.push(i)
    logits = torch.full((1, len(vocab)), -30.0)
    logits[0, 2] = 0.0  # the model wants the bar line the rules refuse; the rest is near zero
    ids = torch.tensor([2])
    _obey([ruled], ids, logits, [False], 1.0, torch.Generator().manual_seed(0))
    assert vocab[int(ids[0])] in ("c", "2")  # drawn again from what the rules allow


def test_sampled_tunes_with_the_rules_are_all_well_formed(tmp_path):
    from rnnkit.runs.driver import fit, load_run
    from rnnkit.tasks.music.sampling import ngram_tunes, sample_tunes

    write_tunes(tmp_path / "tunes.abc", 40)
    fit(
        "music",
        data={"data": str(tmp_path / "tunes.abc"), "batch_size": 8, "eval_tunes": 0,
              "ngram_order": 3, "val": 0.1, "test": 0.1},
        model={"hidden_size": 16, "num_layers": 1, "embed_dim": 8},
        train={"max_steps": 2, "eval_every": 2, "progress": False},
        out=tmp_path / "run",
    )  # fmt: skip
    run = load_run(tmp_path / "run")  # hardly trained: it draws nearly at random
    task = run.task
    kn = task.ngram(task.prepare().train)
    free = sample_tunes(run.model, task, 20, seed=0, max_tokens=300)
    rnn_redraws, kn_redraws = [], []
    ruled = sample_tunes(run.model, task, 20, seed=0, max_tokens=300, rules=True,
                         redraws=rnn_redraws)  # fmt: skip
    grams = ngram_tunes(task, kn, 20, seed=0, rules=True, redraws=kn_redraws)
    assert len(rnn_redraws) == len(kn_redraws) == 20 and sum(rnn_redraws) > 20  # it needed them
    assert sum(bar_fault(t) is None for t, done in free if done) < 10  # the test has teeth

    def well_formed(tokens: list[str]) -> bool:
        try:
            tune_text(tokens)
        except TuneError:
            return False
        return bar_fault(tokens) is None

    for tokens, done in [*ruled, *grams]:
        assert not done or well_formed(tokens), tokens
    assert sum(done for _, done in ruled) >= 5 and sum(done for _, done in grams) >= 5


def test_the_ngram_sampler_obeys_rules_given_as_ids():
    class OnlyEven:
        def allows(self, token: int) -> bool:
            return token % 2 == 0

        def push(self, token: int) -> None:
            pass

    kn = KneserNey(2, 6, bos=5).fit([[0, 1, 2, 3, 4], [1, 3, 1, 3, 4]])
    drawn = kn.sample(np.random.default_rng(0), end=4, max_len=50, rules=OnlyEven())
    assert drawn[-1] == 4 and all(t % 2 == 0 for t in drawn)


# -- the rules as a training signal (RuleMasks, music_loss's rules term) -------------------------

MODEL_VOCAB = [*SPECIALS, *(t for t in VOCAB if t != "</s>")]  # as the task builds it


def test_rule_masks_give_the_rules_verdicts_at_every_position(tmp_path):
    vocab = MODEL_VOCAB
    tunes, _ = read_collection(write_tunes(tmp_path / "t.abc", 30).read_text())
    broken = ["M:6/8", "K:Cmaj", "c", "6", "|", "c", "2", "|", "2", "c", "6", "|"]  # a short
    masks = RuleMasks(vocab)  # bar closed by "|" in mid-tune, then a length after a bar line
    for tokens in [*(t.tokens for t in tunes), read_tune(JIG).tokens, broken]:
        seq = ["<s>", *tokens]
        rows = masks.rows(seq)
        rules = TuneRules(vocab)
        for i, token in enumerate(seq):
            if i:
                rules.push(token)
            assert masks.table[rows[i]].tolist() == [rules.allows(v) for v in vocab], seq[: i + 1]
    assert len(masks.table) < 60  # states share masks: a small table serves every tune


class FixedLogits(torch.nn.Module):
    """A "model" that returns the logits it was given, whatever the input."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, x, state=None):
        return self.logits, None


def test_the_rules_term_is_minus_the_log_of_the_mass_on_allowed_tokens():
    from rnnkit.tasks.music.task import music_loss

    vocab = MODEL_VOCAB
    ix = {t: i for i, t in enumerate(vocab)}
    tokens = ["<s>", "M:6/8", "K:Cmaj", "c", "6", "|", "c", "6", "|", "</s>"]
    ids = [ix[t] for t in tokens]
    masks = RuleMasks(vocab)
    x, y = torch.tensor([ids[:-1]]), torch.tensor([ids[1:]])  # (1, T)
    y[0, 0] = -100  # padding is never scored
    y[0, 5] = ix["2"]  # a target the rules refuse (a length after a bar line) is not punished
    rows = torch.tensor([masks.rows(tokens[:-1])])
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1, x.shape[1], len(vocab), dtype=torch.float64, generator=gen)  # (1, T, V)
    model = FixedLogits(logits.clone())
    got = music_loss(model, (x, None, y, rows), masks.table, weight=0.5)

    p = logits[0].softmax(-1)  # (T, V)
    ce, term, n = 0.0, 0.0, 0
    for t in range(1, x.shape[1]):
        target = int(y[0, t])
        allowed = masks.table[rows[0, t]].clone()
        allowed[target] = True
        ce -= float(p[t, target].log())
        term -= float(p[t][allowed].sum().log())
        n += 1
    assert got.count == n
    assert got.loss.item() == pytest.approx((ce + 0.5 * term) / n, rel=1e-12)
    assert music_loss(model, (x, None, y, rows)).loss.item() == pytest.approx(ce / n, rel=1e-12)
    got.loss.backward()  # the term pushes refused tokens down, allowed ones up
    refused = ~masks.table[rows[0, 3]]  # after "c": no header, no second note-less length...
    assert refused.any() and (model.logits.grad[0, 3][refused] > 0).all()


def test_training_with_the_rules_term_leaves_less_mass_on_refused_tokens(tmp_path):
    """The mass is counted here by hand, token by token, and checked against ``score``."""
    from rnnkit.runs.driver import fit, load_run

    write_tunes(tmp_path / "tunes.abc", 40)

    def refused_mass(weight: float) -> float:
        out = tmp_path / f"run-{weight}"
        fit(
            "music",
            data={"data": str(tmp_path / "tunes.abc"), "batch_size": 8, "eval_tunes": 0,
                  "ngram_order": 2, "val": 0.1, "test": 0.1, "rules_weight": weight},
            model={"hidden_size": 16, "num_layers": 1, "embed_dim": 8},
            train={"max_steps": 30, "eval_every": 30, "lr": 0.02, "progress": False, "seed": 0},
            out=out,
        )  # fmt: skip
        run = load_run(out)
        task, model = run.task, run.model.eval()
        assert task.data.rules_weight == weight
        val = task.prepare().val
        total, kept = 0.0, []
        with torch.no_grad():
            for ids in val:
                tokens = [task.vocab[i] for i in ids]
                rules, clean = TuneRules(task.vocab), 1.0
                probs = model(torch.tensor([ids[:-1]]), torch.tensor([task.positions(ids[:-1])]))
                for t, p in enumerate(probs[0][0].softmax(-1)):  # p: the draw after token t
                    if t:
                        rules.push(tokens[t])
                    mass = sum(float(p[v]) for v, w in enumerate(task.vocab) if not rules.allows(w))
                    total += mass
                    clean *= 1 - mass
                kept.append(clean)
        count = sum(len(ids) - 1 for ids in val)
        scored = task.score(model, val)
        assert scored["refused_mass"] == pytest.approx(total / count, rel=1e-4)
        assert scored["rules_kept"] == pytest.approx(sum(kept) / len(kept), rel=1e-4)
        return total / count

    plain, ruled = refused_mass(0.0), refused_mass(5.0)
    print(f"mass on refused tokens: {plain:.4f} trained without the term, {ruled:.4f} with it")
    assert ruled < 0.7 * plain, (ruled, plain)
