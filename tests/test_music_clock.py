"""The bar clock (against positions counted by hand and against ``perform``'s bar lengths), the
tune model given bar classes, and runs saved before it (no ``position_dim``) loading as before."""

from __future__ import annotations

import json
import random
from fractions import Fraction as Fr

import pytest
import torch

from rnnkit.data.abc import BARS, ENDINGS, read_collection, read_tune
from rnnkit.data.abc_clock import FULL, NUM_CLASSES, OUTSIDE, OVER, SETTLED, BarClock, bar_classes
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.tune_model import TuneModel, TuneModelConfig
from rnnkit.runs.driver import fit, load_run
from rnnkit.scoring.tunes import perform
from rnnkit.train.checkpoint import sha256
from tests.music_data import write_tunes
from tests.test_music import AIR, JIG, REEL


def positions(tokens: list[str]) -> list[Fr | None]:
    clock = BarClock()
    return [clock.push(t) for t in tokens]


# -- the clock against positions counted by hand ------------------------------------------------


def test_a_jig_with_a_pickup_and_endings():
    tokens = read_tune(JIG).tokens  # 6/8; D| pickup, G3 a dotted quarter, |1 ... :|2 ... ||
    assert tokens[:14] == ["M:6/8", "K:Cmaj", "G", "|:", "c", "3", "c", "d", "e", "|", "d", "3",
                           "d", "e"]  # fmt: skip
    got = positions(tokens)
    assert got[:14] == [None, None, 1, 0, 1, 3, 4, 5, 6, 0, 1, 3, 4, 5]  # the pickup is 1 long
    ending = tokens.index(":|2")  # "|1 d c B c 2 G :|2 d c B c 2 d ||"
    assert got[ending - 7 : ending + 8] == [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0]


def test_a_triplet_in_cut_time_with_a_sixteenth_unit():
    tokens = read_tune(REEL).tokens  # 2/2, L:1/16: "(3A2B2c2" is three eighths in the time of two
    assert tokens[:12] == ["M:2/2", "K:Cdor", "|:", "c", "G", "(3", "c", "d", "e", "f", "d", "e"]
    got = positions(tokens)
    assert got[2:12] == [0, 1, 2, 2, Fr(8, 3), Fr(10, 3), 4, 5, 6, 7]
    assert got[tokens.index("|1") : tokens.index(":|2") + 1] == [0, 1, 4, 5, 8, 0]


def test_broken_rhythm_in_three_four():
    tokens = read_tune(AIR).tokens  # 3/4: "G>A B2 ^F2|": G lasts 3/2, A 1/2
    assert tokens[:10] == ["M:3/4", "K:Cmin", "c", ">", "d", "e", "2", "=B", "2", "|"]
    assert positions(tokens)[:10] == [None, None, 1, Fr(3, 2), 2, 3, 4, 5, 6, 0]


def test_lengths_broken_rhythm_and_tuplets_combine():
    tokens = ["<s>", "M:4/4", "K:Cmaj", "A", "/2", "<", "B", "3/2", "(3", "c", "2", "d", "2",
              "e", "2", "z", "2", "|", "A", "8", "B", "|"]  # fmt: skip
    # A/2 < B3/2: A 1/4, B 9/4 (3/2 lengthened by half); (3 c2d2e2: 6 eighths in the time of 4
    # (each tuplet note 2/3 until its length token makes it 4/3), then z2: 2 more
    assert positions(tokens) == [None, None, None, 1, Fr(1, 2), Fr(1, 4), Fr(7, 4), Fr(5, 2),
                                 Fr(5, 2), Fr(19, 6), Fr(23, 6), Fr(27, 6), Fr(31, 6), Fr(35, 6),
                                 Fr(39, 6), Fr(45, 6), Fr(51, 6), 0, 1, 8, 9, 0]  # fmt: skip


def test_tokens_out_of_place_change_nothing():
    # a model's samples are clocked whatever they hold: a length after a bar line, ">" first
    assert positions(["M:3/4", "K:Cmaj", "|", "2", ">", "c", "M:x", "</s>", "<unk>"]) == [
        None, None, 0, 0, 0, 1, 1, 1, 1]  # fmt: skip


def test_bar_classes_say_what_is_left():
    tokens = ["<s>", "M:3/4", "K:Cmaj", "c", "4", "d", "/2", "e", "|", "c", "6", "d"]
    # eighths left (class 2 + ceil(2 * left)): -, -, -, then c (pending: 6 left when it began),
    # 4 (settled: 2 left), d (pending: 2), /2 (3/2), e (pending: 3/2), a new bar: 6, c
    # (pending: 6), 6 (settled: full), d (pending: begun with the bar already full)
    pend = SETTLED
    assert bar_classes(tokens) == [OUTSIDE, OUTSIDE, OUTSIDE, pend + 14, 6, pend + 6, 5,
                                   pend + 5, 14, pend + 14, FULL, pend + FULL]  # fmt: skip
    # in 2/4, a fourth eighth begun with 1 left, made a quarter: over; a new bar: 4 left
    two = bar_classes(["M:2/4", "K:Cmaj", "c", "c", "c", "c", "2", "|"])
    assert two[-3:] == [pend + 4, OVER, 10]
    long = bar_classes(["M:12/4", "K:Cmaj", "c"])[-1]  # 24 eighths left: the last class
    assert long == NUM_CLASSES - 1


# -- the clock against perform's bar lengths ----------------------------------------------------


def clocked_bars(tokens: list[str]) -> list[Fr]:
    clock, bars = BarClock(), []
    for t in tokens:
        before = clock.now or Fr(0)
        clock.push(t)
        if t in BARS or t in ENDINGS:
            bars.append(before)
    return [*bars, clock.now]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_clock_closes_every_bar_where_perform_does(tmp_path, seed):
    tunes, _ = read_collection(write_tunes(tmp_path / "t.abc", 40, seed).read_text())
    for tune in [*tunes, read_tune(JIG), read_tune(REEL), read_tune(AIR)]:
        assert clocked_bars(tune.tokens) == [b[0] for b in perform(tune.tokens)[1]]


def test_the_clock_on_random_token_soup_never_raises():
    rng = random.Random(0)
    vocab = ["|", ":|", "|1", "c", "z", "2", "/2", "3/2", ">", "<<", "(3", "(5", "M:6/8", "K:Cmaj"]
    for _ in range(200):
        classes = bar_classes([rng.choice(vocab) for _ in range(30)])
        assert all(0 <= c < NUM_CLASSES for c in classes)


# -- the model -----------------------------------------------------------------------------------


def test_the_tune_model_reads_the_bar_class_beside_each_token():
    torch.manual_seed(0)
    c = TuneModelConfig(vocab_size=11, hidden_size=8, num_layers=1, embed_dim=4, position_dim=3)
    model = TuneModel(c).eval()
    x = torch.randint(0, 11, (2, 5))  # (B, T)
    p = torch.randint(0, NUM_CLASSES, (2, 5))  # (B, T)
    logits, _ = model(x, p)
    assert logits.shape == (2, 5, 11)
    # the same as the recurrent layers run by hand on [E[x]; P[p]]
    e = torch.cat([model.embedding(x), model.position(p)], -1)  # (B, T, 7)
    y, _ = model.rnn(e)
    assert torch.allclose(logits, model.head(y))
    other = (p + 1) % NUM_CLASSES
    assert not torch.allclose(model(x, other)[0], logits)  # the classes are read
    step, state = model(x[:, :3], p[:, :3])  # stepping on: the same as all at once
    assert torch.allclose(model(x[:, 3:], p[:, 3:], state)[0], logits[:, 3:], atol=1e-6)


def greedy_by_hand(run, prefix: list[str], max_tokens: int) -> tuple[list[str], bool]:
    """Greedy decoding with the whole sequence rerun each step (no state carried), bar
    classes recounted from the start each time."""
    from rnnkit.tasks.music.vocab import BOS, EOS, PAD, UNK, run_model

    ix, banned = run.task.index, [run.task.index[t] for t in (PAD, BOS, UNK)]
    ids = [ix[BOS], *(ix[t] for t in prefix)]
    clocked = bool(run.task.model.position_dim)
    while len(ids) < max_tokens + 1:
        p = torch.tensor([bar_classes([run.task.vocab[i] for i in ids])]) if clocked else None
        logits = run_model(run.model, torch.tensor([ids]), p)[0][0, -1]
        logits[banned] = float("-inf")
        ids.append(int(logits.argmax()))
        if ids[-1] == ix[EOS]:
            break
    return run.task.decode(ids[1:])


def tiny_run(d, position_dim: int):
    write_tunes(d / "tunes.abc", 40)
    fit(
        "music",
        data={"data": str(d / "tunes.abc"), "batch_size": 8, "eval_tunes": 0, "val": 0.1,
              "test": 0.1, "ngram_order": 2},
        model={"hidden_size": 16, "num_layers": 1, "embed_dim": 8, "position_dim": position_dim},
        train={"max_steps": 3, "eval_every": 3, "progress": False},
        out=d / "run",
    )  # fmt: skip
    return d / "run"


def test_a_new_run_is_given_bar_classes_in_training_and_sampling(tmp_path):
    from rnnkit.tasks.music.sampling import sample_tunes

    run = load_run(tiny_run(tmp_path, 4))
    assert type(run.model) is TuneModel and run.task.model.position_dim == 4
    tokens = read_collection((tmp_path / "tunes.abc").read_text())[0][0].tokens
    x, p, y, _ = run.task.batches([run.task.encode(tokens)])[0]
    assert p[0].tolist() == bar_classes(["<s>", *tokens])  # after each input token
    prefix = ["M:6/8", "K:Cmaj"]
    got = sample_tunes(run.model, run.task, 2, prefix=prefix, temperature=0, max_tokens=40)
    assert got == [greedy_by_hand(run, prefix, 40)] * 2


def test_a_new_run_has_the_bar_clock_and_the_rules_term_unless_asked_not_to():
    from rnnkit.runs.driver import make_task

    task = make_task("music", {}, {})
    assert task.model.position_dim == 16 and task.data.rules_weight == 3.0
    assert make_task("music", {}, {"position_dim": 0}).model.position_dim == 0
    assert make_task("music", {"rules_weight": 0}, {}).data.rules_weight == 0


# -- runs saved before the bar clock -------------------------------------------------------------


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
    """A run as the code before ``position_dim`` wrote it: no such key in config.json (nor
    ``rules_weight``, which came later)."""
    d = tiny_run(tmp_path_factory.mktemp("old-music"), 0)
    path = d / "config.json"
    config = json.loads(path.read_text())
    del config["model"]["position_dim"], config["data"]["rules_weight"]
    path.write_text(json.dumps(config))
    for manifest in (d / "ckpt").glob("*/manifest.json"):  # as the old code sealed it
        m = json.loads(manifest.read_text())
        m["sha256"]["config.json"] = sha256(path)
        manifest.write_text(json.dumps(m))
    return d


def test_an_old_run_loads_as_the_plain_language_model(old_run):
    run = load_run(old_run)
    assert run.task.model.position_dim == 0 and type(run.model) is LanguageModel
    assert run.task.data.rules_weight == 0  # resumed, it would train as it began
    plain = LanguageModel(LanguageModelConfig(vocab_size=len(run.task.vocab), hidden_size=16,
                                              num_layers=1, embed_dim=8))  # fmt: skip
    assert run.model.state_dict().keys() == plain.state_dict().keys()
    assert run.task.batches([[1, 5, 6, 2]])[0][1] is None  # no bar classes


def test_an_old_run_composes_as_before(old_run):
    from rnnkit.tasks.music.sampling import sample_tunes

    run = load_run(old_run)
    prefix = ["M:6/8", "K:Cmaj"]
    got = sample_tunes(run.model, run.task, 2, prefix=prefix, temperature=0, max_tokens=40)
    assert got == [greedy_by_hand(run, prefix, 40)] * 2
