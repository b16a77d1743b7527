"""Music: the ABC tokeniser and transposition, the Kneser-Ney baseline against hand
computation, MIDI and piano-roll files, the bar checks, the task and ``rnnkit compose``."""

from __future__ import annotations

import io
import json
import math
from fractions import Fraction

import mido
import numpy as np
import pytest

from rnnkit.baselines.kneser_ney import KneserNey, modified_discounts
from rnnkit.data.abc import (
    Note,
    TuneError,
    body_tokens,
    in_key,
    parse_body,
    parse_key,
    read_collection,
    read_tune,
    tune_text,
)
from rnnkit.errors import RnnkitError
from rnnkit.runs.driver import fit
from rnnkit.scoring.tunes import (
    bar_fault,
    bars_ok,
    ends_on_tonic,
    fault,
    parses_with_music21,
    perform,
)
from rnnkit.tasks.music.files import midi_bytes
from rnnkit.tasks.music.task import read_abc_path
from tests.music_data import write_tunes
from tests.test_cli_lm import cli

JIG = """X: 7
T: The Kesh
M: 6/8
L: 1/8
R: jig
K: G
"G"D|:~G3 GAB|{c}A3 ABd|"Em"edd gdd|edB dBA|
GAG GAB|A2A ABd|edd gdB|1 AGF G2D:|2 AGF G2A||
"""

REEL = """X:3
T:A reel in A dorian, quarter-note unit halved
M:C|
L:1/16
K:Ador
% a comment line
|:A2E2 (3A2B2c2 d2B2 c2A2|G4 E4 F4 G4|[1 A8 E8:|[2 A4 z4 A8|]
"""

AIR = """X:12
T:Minor air with accidentals
M:3/4
L:1/8
K:Gm
G>A B2 ^F2|G2 =B2 [DGd]2|cB AG FE|D6|]
w: words are dropped
"""


def test_a_jig_reads_as_folk_rnn_tokens_in_c():
    tune = read_tune(JIG)
    # G major -> C major: every note a fourth up (G -> c); pickup, ~ roll, grace note and chord
    # symbols dropped; the first and second endings kept.
    assert tune.tokens == (
        ["M:6/8", "K:Cmaj", "G", "|:", "c", "3", "c", "d", "e", "|", "d", "3", "d", "e", "g", "|"]
        + ["a", "g", "g", "c'", "g", "g", "|", "a", "g", "e", "g", "e", "d", "|"]
        + ["c", "d", "c", "c", "d", "e", "|", "d", "2", "d", "d", "e", "g", "|"]
        + ["a", "g", "g", "c'", "g", "e", "|1", "d", "c", "B", "c", "2", "G", ":|2"]
        + ["d", "c", "B", "c", "2", "d", "||"]
    )
    assert tune.meter == "6/8" and tune.key == parse_key("G") and tune.title == "The Kesh"


def test_lengths_are_in_eighths_and_modes_are_kept():
    reel = read_tune(REEL)
    assert reel.tokens[:2] == ["M:2/2", "K:Cdor"]  # C| is 2/2; A dorian -> C dorian
    # L:1/16: A2 is one eighth (no token), G4 two, A8 four; (3 and rests kept
    assert reel.tokens[2:] == (
        ["|:", "c", "G", "(3", "c", "d", "e", "f", "d", "e", "c", "|", "B", "2", "G", "2"]
        + ["A", "2", "B", "2", "|1", "c", "4", "G", "4", ":|2", "c", "2", "z", "2", "c", "4", "|]"]
    )  # A dorian's c (natural) -> e, which is flat in C dorian: no accidental needed
    air = read_tune(AIR)
    assert air.tokens[:2] == ["M:3/4", "K:Cmin"]
    # G minor -> C minor (up a fourth): ^F -> =B (B is flat in C minor), =B -> =e, the chord
    # [DGd] keeps its top note d -> g; "w:" words dropped
    body = " ".join(air.tokens[2:])
    assert body.startswith("c > d e 2 =B 2 | c 2 =e 2 g 2 |")
    assert air.tokens[-1] == "|]"


@pytest.mark.parametrize("text", [JIG, REEL, AIR])
def test_tokens_round_trip_through_abc_text(text):
    tune = read_tune(text)
    again = read_tune(tune_text(tune.tokens))
    assert again.tokens == tune.tokens
    # and through any key: the pitches move by the interval, the tokens come back the same
    for tonic in ("D", "Bb", "F#"):
        key = parse_key(tonic + tune.tokens[1][3:])  # the tune's own mode
        keyed = in_key(tune.tokens, key)
        assert read_tune(tune_text(keyed, key)).tokens == tune.tokens
    with pytest.raises(TuneError, match="keep the mode"):
        in_key(tune.tokens, parse_key("Clyd"))


def test_transposition_moves_every_pitch_by_the_interval():
    key = parse_key("D")
    events = parse_body("DFA dfa|^c=c", key)  # F and C are sharp in D major
    pitches = [e.pitch for e in events if isinstance(e, Note)]
    assert pitches == [62, 66, 69, 74, 78, 81, 73, 72]
    tokens = read_tune("X:1\nM:4/4\nL:1/8\nK:D\nDFA dfa|^c=c\n").tokens
    assert tokens[2:] == ["C", "E", "G", "c", "e", "g", "|", "B", "_B"]
    c_pitches = [p.pitch for p in perform(tokens)[0]]
    assert c_pitches == [p - 2 for p in pitches]  # D down to C: two semitones
    up = in_key(tokens, parse_key("Ebmaj"))
    assert [p.pitch for p in perform(up)[0]] == [p + 1 for p in pitches]
    assert up[1] == "K:Ebmaj" and up[2:5] == ["E", "G", "B"]  # spelled with the key's flats


def test_key_signatures_of_modes():
    assert parse_key("D").signature() == {0: 1, 1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: 0}
    assert parse_key("E Minor") == parse_key("Em") == parse_key("Eaeolian")
    assert parse_key("Ador").signature() == parse_key("G").signature()
    assert parse_key("Cmix").signature()[6] == -1  # B flat
    with pytest.raises(TuneError):
        parse_key("HP")


def test_broken_tunes_are_skipped_and_counted():
    broken = "X:9\nT:two voices\nM:4/4\nL:1/8\nK:G\nV:1\nGABc dedB|\n"
    no_key = "X:10\nT:no key\nM:4/4\nL:1/8\nGABc|\n"
    tunes, skipped = read_collection(JIG + "\n" + broken + "\n" + REEL + "\n" + no_key)
    assert [t.title for t in tunes] == ["The Kesh", "A reel in A dorian, quarter-note unit halved"]
    assert skipped == 2


@pytest.mark.parametrize("unit", ["", "x", "1/0", "3/8", "1/3"])
def test_a_unit_note_length_that_is_not_one_over_a_power_of_two_is_a_tune_error(unit):
    # "L:" with nothing after it was an IndexError (evaluate music --data, the input sweep)
    with pytest.raises(TuneError, match="unit note length"):
        read_tune(f"X:1\nM:4/4\nL:{unit}\nK:G\nGABc|\n")
    assert read_tune("X:1\nM:4/4\nL: 1/16 % a comment\nK:G\nGABc|\n").tokens


def test_a_single_file_that_does_not_parse_is_one_line_naming_it(tmp_path, capsys):
    bad = tmp_path / "bad.abc"
    bad.write_text("X:1\nT:multi-bar rest\nM:4/4\nL:1/8\nK:G\nZ4|GABc|\n")
    with pytest.raises(RnnkitError, match="bad.abc: not a tune this reader takes: a multi"):
        read_abc_path(str(bad))
    (tmp_path / "notes.abc").write_text("just some words\n")
    code, _, err = cli(capsys, "train", "music", "--data", tmp_path / "notes.abc",
                       "--out", tmp_path / "run")  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("rnnkit: error: ") and "notes.abc: not an ABC tune file" in err
    # in a folder, the file is skipped and counted
    write_tunes(tmp_path / "more.abc", 3)
    tunes, info = read_abc_path(str(tmp_path))
    assert len(tunes) == 3 and info["skipped_files"] == 2 and info["files"] == 1


# -- Kneser-Ney --------------------------------------------------------------------------------


def test_modified_discounts_follow_chen_and_goodman():
    # n1..n4 = 10, 4, 2, 1: Y = 10 / 18, D1 = 1 - 2Y(4/10), D2 = 2 - 3Y(2/4), D3 = 3 - 4Y(1/2)
    y = 10 / 18
    expected = (1 - 2 * y * 0.4, 2 - 3 * y * 0.5, 3 - 4 * y * 0.5)
    assert modified_discounts([10, 4, 2, 1]) == pytest.approx(expected, abs=1e-12)
    # n1..n4 = 2, 1, 6, 0: Y = 1/2, D1 = 1 - 2Y(1/2) = 1/2 but D2 = 2 - 3Y(6/1) = -7: the
    # fallback, not a D2 of 0 (which would leave an unseen token p = 0 after some histories)
    assert modified_discounts([2, 1, 6, 0]) == (0.5, 1.0, 1.5)


def test_kneser_ney_matches_a_hand_computed_bigram_model():
    # ids: 0 = <s>, 1 = a, 2 = b, 3 = </s>; sequences "a b a </s>" and "a a </s>"
    bos, a, b, end = 0, 1, 2, 3
    kn = KneserNey(2, 4, bos).fit([[a, b, a, end], [a, a, end]], discounts=[(0.5,) * 3] * 2)
    # bigram counts: <s>a 2, ab 1, ba 1, a</s> 2, aa 1. Unigram continuation counts (distinct
    # left neighbours): a {<s>, b, a} = 3, b {a} = 1, </s> {a} = 1; total 5; three types, each
    # discounted 0.5 -> backoff mass 1.5. Uniform over the 3 predicted ids (a, b, </s>).
    p1 = {a: (3 - 0.5 + 1.5 / 3) / 5, b: (1 - 0.5 + 1.5 / 3) / 5, end: (1 - 0.5 + 1.5 / 3) / 5}
    # after "a": counts b 1, </s> 2, a 1 (total 4, three types -> backoff 1.5)
    after_a = {w: (c - 0.5 + 1.5 * p1[w]) / 4 for w, c in {a: 1, b: 1, end: 2}.items()}
    got = kn.distribution([a])
    for w, p in after_a.items():
        assert got[w] == pytest.approx(p, abs=1e-12)
    assert got[bos] == 0
    # after "b": only "a" seen once -> backoff 0.5
    got_b = kn.distribution([a, b])
    assert got_b[b] == pytest.approx(0.5 * p1[b] / 1, abs=1e-12)
    assert got_b[a] == pytest.approx((1 - 0.5 + 0.5 * p1[a]) / 1, abs=1e-12)
    # after "</s>" (never a history): the unigram distribution
    assert kn.distribution([end])[a] == pytest.approx(p1[a], abs=1e-12)
    # NLL is the sum of the hand-computed log-probabilities
    total, count = kn.nll([[a, end]])
    p_a_start = (2 - 0.5 + 0.5 * p1[a]) / 2  # "<s>" followed only by "a", twice
    assert count == 2 and total == pytest.approx(-math.log(p_a_start) - math.log(after_a[end]))


def test_kneser_ney_distributions_sum_to_one():
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(2, 9, rng.integers(3, 20))) + [9] for _ in range(40)]
    for order in (1, 3, 5):
        kn = KneserNey(order, 10, bos=0, exclude=[1]).fit(seqs)
        for history in ([], seqs[0][:3], [8, 8, 8, 8, 8], [2, 7]):
            p = kn.distribution(history)
            assert p.sum() == pytest.approx(1.0, abs=1e-12)
            assert p[0] == 0 and p[1] == 0 and (p[2:] > 0).all()
        ids = kn.sample(np.random.default_rng(1), end=9, max_len=50)
        assert 1 <= len(ids) <= 50 and not {0, 1} & set(ids)
    # temperature sharpens p ** (1 / T); a prefix conditions the draw (and is not returned)
    kn = KneserNey(2, 10, bos=0).fit([[5, 6, 9]] * 20 + [[5, 7, 9]])
    cold = [kn.sample(np.random.default_rng(i), 9, 5, 0.05, prefix=[5]) for i in range(20)]
    assert all(ids == [6, 9] for ids in cold)


# -- files and checks ------------------------------------------------------------------------


def test_midi_holds_every_note_with_its_pitch_and_length():
    tokens = read_tune(JIG).tokens
    played = [p for p in perform(tokens)[0] if p.pitch is not None]
    song = mido.MidiFile(file=io.BytesIO(midi_bytes(tokens)))
    ons = [m for m in song.tracks[0] if m.type == "note_on" and m.velocity > 0]
    assert len(ons) == len(played) == sum(t[-1].isalpha() or t[-1] in ",'" for t in tokens[2:])
    assert [m.note for m in ons] == [p.pitch for p in played]
    assert song.ticks_per_beat == 480 and song.length == pytest.approx(
        float(sum(p.length for p in perform(tokens)[0])) * 0.25
    )  # an eighth is a quarter of a second at 120 quarters a minute


def test_bar_checks_and_tonic():
    good = read_tune(JIG).tokens
    assert bars_ok(good) and not ends_on_tonic(good)  # the Kesh ends on A (d in C)
    assert bars_ok(read_tune(REEL).tokens) and ends_on_tonic(read_tune(REEL).tokens)
    assert bars_ok(read_tune(AIR).tokens)
    long_bar = read_tune("X:1\nM:6/8\nL:1/8\nK:G\nGAB cBA|GAB cBA B|G6|]\n").tokens
    assert not bars_ok(long_bar)
    short_mid = read_tune("X:1\nM:6/8\nL:1/8\nK:G\nGAB cBA|GAB c|G6|]\n").tokens
    assert not bars_ok(short_mid)
    # a pickup, a short bar before a repeat, broken rhythm and a triplet count right
    assert bars_ok(read_tune("X:1\nM:2/4\nL:1/8\nK:G\nD|:G>A (3Bcd|e2 d:|\n").tokens)
    _, bars = perform(read_tune("X:1\nM:2/4\nL:1/8\nK:G\nG>A (3Bcd|\n").tokens)
    assert bars[0][0] == Fraction(4)


def test_faults_name_the_first_check_a_tune_fails_and_where():
    def tokens(body: str) -> list[str]:
        return read_tune(f"X:1\nM:6/8\nL:1/8\nK:G\n{body}\n").tokens

    assert fault(tokens("GAB cBA|G6|]"), True) is None
    assert fault(tokens("GAB cBA|G6|]"), False) == "unfinished"
    assert fault(tokens("GAB cBA|GAB cBA B|G6|]"), True, False) == "overfull, inside"
    assert bar_fault(tokens("GAB cBA|GAB cBA B|G6|]")) == ("overfull", 1, 3)
    assert fault(tokens("GAB cBA|GAB c|G6|]"), True, False) == "short, inside"
    assert fault(tokens("GAB cBA|G7|]"), True, False) == "overfull, last bar"
    assert fault(tokens("GAB|c3|]"), True, False) == "no full bar"
    assert fault(["M:6/8", "K:Cmaj", "|", "2", "c"], True, False).startswith("unreadable: length")


def test_music21_parse_check():
    assert parses_with_music21(tune_text(read_tune(AIR).tokens))
    assert not parses_with_music21("X:1\nT:x\nK:C\n")  # no notes


# -- the task and compose ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def music_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("music")
    write_tunes(d / "tunes.abc", 60)
    results = fit(
        "music",
        data={"data": str(d / "tunes.abc"), "batch_size": 8, "eval_tunes": 3,
              "music21_check": False, "ngram_order": 3, "val": 0.1, "test": 0.1},
        model={"hidden_size": 16, "num_layers": 1, "embed_dim": 8},
        train={"max_steps": 6, "eval_every": 3, "progress": False},
        out=d / "run",
    )  # fmt: skip
    return d, results


def test_the_task_trains_and_sets_the_rnn_beside_the_ngram(music_run):
    d, r = music_run
    assert r["task"] == "music" and r["training"]["steps"] == 6
    assert r["split"]["train"]["tunes"] == 48 and r["split"]["test"]["tunes"] == 6
    t = r["test"]
    assert t["nll"] > 0 and t["ngram_nll"] == r["ngram"]["nll"] > 0 and r["ngram"]["order"] == 3
    assert 0 < t["refused_mass"] < 1 and 0 < t["rules_kept"] < 1  # values: test_music_rules.py
    assert set(r["samples"]) == {"temperature", "rnn", "ngram", "rnn_with_rules",
                                 "ngram_with_rules", "test_tunes"}  # fmt: skip
    assert r["samples"]["test_tunes"]["bars_ok"] == 1.0  # the generated tunes are well formed
    saved = json.loads((d / "run" / "results.json").read_text())
    assert saved["test"]["nll"] == pytest.approx(t["nll"])
    assert json.loads((d / "run" / "vocab.json").read_text())["tokens"][:4] == [
        "<pad>", "<s>", "</s>", "<unk>"]  # fmt: skip


def test_compose_writes_abc_midi_png_and_never_overwrites(music_run, capsys):
    d, _ = music_run
    out = d / "composed"
    argv = ["compose", d / "run", "--n", "2", "--meter", "6/8", "--key", "Dmaj", "--out", out,
            "--seed", "3", "--json"]  # fmt: skip
    code, text, err = cli(capsys, *argv)
    assert code == 0, err
    files = json.loads(text)["files"]
    assert [p.rsplit("/", 1)[1] for p in files[0]] == ["tune-01.abc", "tune-01.mid", "tune-01.png"]
    abc = (out / "tune-01.abc").read_text()
    assert "M:6/8" in abc and "K:D\n" in abc and abc.startswith("X:1\nT:rnnkit tune 1\n")
    assert (out / "tune-02.png").read_bytes()[:4] == b"\x89PNG"
    notes = [p for p in perform(read_tune(abc).tokens)[0] if p.pitch is not None]
    song = mido.MidiFile(out / "tune-01.mid")
    assert len([m for m in song.tracks[0] if m.type == "note_on" and m.velocity]) == len(notes)
    before = (out / "tune-01.abc").read_bytes()
    code, _, err = cli(capsys, *argv)
    assert code == 2 and "exists; pass --force" in err and err.count("\n") == 1
    assert (out / "tune-01.abc").read_bytes() == before
    assert cli(capsys, *argv, "--force")[0] == 0
    code, _, err = cli(capsys, "compose", d / "run", "--meter", "5/4", "--out", d / "x")
    assert code == 2 and "meter 5/4 never occurs" in err
    code, _, err = cli(capsys, "compose", d / "run", "--meter", "6/8", "--key", "Dlyd",
                       "--out", d / "x")  # fmt: skip
    assert code == 2 and "mode lyd never occurs" in err
    code, _, err = cli(capsys, "compose", d / "run", "--meter", "6/8")
    assert code == 2 and "give --out" in err


def test_compose_check_reports_shares_of_drawn_tunes(music_run, capsys):
    d, _ = music_run
    argv = ["compose", d / "run", "--n", "3", "--check", "--ngram", "--meter", "6/8"]
    code, text, err = cli(capsys, *argv, "--json")
    assert code == 0, err
    r = json.loads(text)
    assert r["ngram"]["tunes"] == 3 and 0 <= r["ngram"]["bars_ok"] <= 1
    assert r["tunes"] == 3 and r["temperature"] == 1.0
    assert {"finished", "parses_music21", "bars_ok", "ends_on_tonic"} <= set(r)
    assert r["rules"] is True  # drawn with the bar rules unless --free
    assert r["redraws_per_tune"] >= 0 and 0 <= r["ngram"]["redrawn"] <= 1
    skip = ("tunes", "temperature", "seed", "ngram", "faults", "rules", "redraws_per_tune")
    assert all(0 <= r[k] <= 1 for k in r if k not in skip)
    assert sum(r["faults"].values()) == round(3 * (1 - r["parses_and_bars"]))
    assert not (d / "tune-01.abc").exists()
    code, text, err = cli(capsys, *argv, "--free")
    assert code == 0 and "drawn freely" in text.splitlines()[0] and "redrawn" not in text
    code, text, err = cli(capsys, *argv)
    assert code == 0 and "with the bar rules" in text and "draws refused per tune" in text


def test_sampled_tunes_follow_the_forced_header(music_run):
    from rnnkit.runs.driver import load_run
    from rnnkit.tasks.music.sampling import sample_tunes

    run = load_run(music_run[0] / "run")
    tunes = sample_tunes(run.model, run.task, 4, seed=0, prefix=["M:3/4", "K:Cdor"])
    assert all(tokens[:2] == ["M:3/4", "K:Cdor"] for tokens, _ in tunes)
    again = sample_tunes(run.model, run.task, 4, seed=0, prefix=["M:3/4", "K:Cdor"])
    assert again == tunes


def test_tokens_in_another_key_keep_their_accidentals():
    tokens = ["M:4/4", "K:Cmaj", "^F", "F", "|", "F", "_B", "2"]
    keyed = in_key(tokens, parse_key("Dmaj"))
    # F# -> G# (the sharp holds to the bar line); Bb -> C natural, which D major must mark
    assert keyed[2:] == ["^G", "G", "|", "G", "=c", "2"]
    assert body_tokens(parse_body("^GG|G=c2", parse_key("D")), parse_key("D")) == keyed[2:]
