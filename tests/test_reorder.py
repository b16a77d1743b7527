"""Word reordering beyond the network: the Kneser-Ney model asked about a few ids and saved as
counts, the n-gram's best permutation (by brute force, and the sentences it was fitted on), the
decoding chosen on the validation split and kept in results.json, the n-gram saved with the run
(a restored task predicts as the one that trained), and the named corpora (the bundled plays,
the King James text from a Debian package made here, no network)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.baselines.kneser_ney import KneserNey
from rnnkit.baselines.ngram_order import best_order
from rnnkit.data import named, read_text
from rnnkit.errors import RnnkitError
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.base import Splits
from rnnkit.tasks.reorder import (
    BEAMS,
    LM_WEIGHTS,
    WEIGHT_BEAM,
    ReorderData,
    ReorderTask,
    decoding_name,
    sentences,
)

# -- the n-gram: a few ids at a time, saved as its counts --------------------------------------


def shakespeare_lm(order: int) -> tuple[KneserNey, list[list[int]], dict[str, int]]:
    """A word n-gram (ids 0: begin, 1: end) on the first sentences of the bundled plays."""
    train = sentences(read_text(None)[:30000], 4, 8)
    index: dict[str, int] = {"<s>": 0, "</s>": 1}
    seqs = [[index.setdefault(w, len(index)) for w in s] + [1] for s in train]
    return KneserNey(order, len(index), bos=0).fit(seqs), seqs, index


def test_the_ngram_asked_about_a_few_ids_gives_their_share_of_the_whole():
    lm, seqs, _ = shakespeare_lm(4)
    ids = np.array([1, 5, 2, 5, 40])  # a repeat too
    for seq in seqs[:20]:
        for i in range(len(seq)):
            assert lm.distribution(seq[:i], ids) == pytest.approx(lm.distribution(seq[:i])[ids],
                                                                  rel=1e-12)  # fmt: skip


def test_the_ngram_comes_back_from_json_with_the_same_distributions():
    lm, seqs, _ = shakespeare_lm(3)
    back = KneserNey.from_dict(json.loads(json.dumps(lm.to_dict())))
    assert back.discounts == lm.discounts
    for seq in seqs[:10]:
        for i in range(len(seq)):
            assert np.array_equal(back.distribution(seq[:i]), lm.distribution(seq[:i]))
    broken = lm.to_dict()
    broken["ngrams"][0] = broken["ngrams"][0][1:]  # one id short
    with pytest.raises(ValueError):
        KneserNey.from_dict(broken)


# -- the n-gram's best order of a bag ----------------------------------------------------------


def test_ngram_order_finds_the_best_permutation_by_brute_force():
    lm, seqs, _ = shakespeare_lm(3)
    g = np.random.default_rng(0)

    def total(seq: list[int]) -> float:
        seq = [*seq, 1]
        return sum(float(np.log(lm.distribution(seq[:i])[w])) for i, w in enumerate(seq))

    # up to 5 tokens, at most 60 (used set, last two) states exist per step: beam 64 is exact
    short = [s[:-1] for s in seqs if len(s) <= 6][:15]
    assert len(short) == 15
    for words in short:
        bag = [words[i] for i in g.permutation(len(words))]
        got = [bag[j] for j in best_order(lm, bag, end=1)]
        assert sorted(got) == sorted(bag)
        assert total(got) == pytest.approx(max(map(total, itertools.permutations(bag))), abs=1e-9)


def test_ngram_order_puts_back_what_it_was_fitted_on_where_the_bigram_cannot():
    # "b e" and "e c" are three times as common as "b c" and "c e": a bigram orders the bag of
    # "a b c e" as "a b e c"; a trigram knows that "a b" went on with "c"
    corpus = [list("abce")] + [list("dbec")] * 3
    index = {"<s>": 0, "</s>": 1}
    seqs = [[index.setdefault(w, len(index)) for w in s] + [1] for s in corpus]
    words = {i: w for w, i in index.items()}

    def ordered(order: int, sentence: str) -> str:
        lm = KneserNey(order, len(index), bos=0).fit(seqs)
        bag = [index[w] for w in reversed(sentence)]
        return "".join(words[bag[j]] for j in best_order(lm, bag, end=1))

    assert [ordered(2, s) for s in ("abce", "dbec")] == ["abec", "dbec"]
    assert [ordered(3, s) for s in ("abce", "dbec")] == ["abce", "dbec"]
    assert [ordered(4, s) for s in ("abce", "dbec")] == ["abce", "dbec"]


# -- the task: choosing the decoding, keeping the n-gram -----------------------------------------


def tiny_task(tmp: Path, **data) -> tuple[ReorderTask, Splits]:
    (tmp / "text.txt").write_text(read_text(None)[:20000])
    task = ReorderTask(ReorderData(data=str(tmp / "text.txt"), lm_order=3, **data),
                       Seq2SeqConfig(hidden_size=8, embed_dim=8))  # fmt: skip
    return task, task.prepare()


def test_the_decoding_is_chosen_on_validation_weight_first_then_beam(tmp_path):
    task, splits = tiny_task(tmp_path)
    asked = []

    gold_of = {tuple(shuffled): gold for shuffled, gold in splits.val}

    def reorder(model, inputs, beam=5, lm_weight=0.0):
        asked.append((beam, lm_weight))  # once per chunk of the test phase
        right = (beam, lm_weight) in {(64, 1.5), (WEIGHT_BEAM, 1.5), (WEIGHT_BEAM, 2.0)}
        return [{"words": gold_of[tuple(s)] if right else s} for s in inputs]

    task.reorder = reorder  # the right order only at these decodings
    decoding = task.choose_decoding(None, splits.val)
    asked[:] = dict.fromkeys(asked)  # each decoding once, in the order first asked
    assert asked == [(WEIGHT_BEAM, w) for w in LM_WEIGHTS] + [(b, 1.5) for b in BEAMS
                                                               if b != WEIGHT_BEAM]  # fmt: skip
    assert task.chosen == (WEIGHT_BEAM, 1.5)  # ties go to the smaller beam, then weight
    assert decoding["beam"] == WEIGHT_BEAM and decoding["lm_weight"] == 1.5
    assert decoding["validation"][decoding_name(64, 1.5)]["exact_match"] == 1.0
    assert decoding["validation"][decoding_name(5, 1.5)]["exact_match"] < 1.0
    # a run that fixed both asks nothing; one that fixed the beam chooses the weight at it
    task.data.beam, task.data.lm_weight = 3, 0.25
    asked.clear()
    assert task.choose_decoding(None, splits.val)["chosen_by"] == "settings"
    assert asked == [] and task.chosen == (3, 0.25)
    task.data.lm_weight = None
    task.choose_decoding(None, splits.val)
    assert list(dict.fromkeys(asked)) == [(3, w) for w in LM_WEIGHTS]


def test_a_restored_run_decodes_as_the_one_that_trained(tmp_path):
    task, splits = tiny_task(tmp_path)
    torch.manual_seed(0)
    model = Seq2Seq(task.model).eval()
    task.restore_results({"decoding": {"beam": 4, "lm_weight": 2.0}})
    assert task.chosen == (4, 2.0)
    inputs = [" ".join(s) for s, _ in splits.test]
    before = task.predict(model, inputs)
    files = json.loads(json.dumps(task.artefacts()))
    again = ReorderTask(task.data, task.model)
    again.restore(files)
    again.restore_results(json.loads(json.dumps({"decoding": {"beam": 4, "lm_weight": 2.0}})))
    assert again.lm.to_dict() == task.lm.to_dict()
    assert again.predict(model, inputs) == before
    # the n-gram changes the output: without it (weight 0) the same model orders otherwise
    alone = task.reorder(model, [s.split() for s in inputs], 4, 0.0)
    assert [r["output"] for r in before] != [" ".join(r["words"]) for r in alone]
    files["ngram.json"]["vocab_size"] += 1
    with pytest.raises(RnnkitError, match="ngram.json"):
        ReorderTask(task.data, task.model).restore(files)


def test_a_run_saved_before_the_ngram_decodes_with_the_network_alone(tmp_path):
    task, splits = tiny_task(tmp_path)
    old = ReorderTask(task.data, task.model)
    old.restore({"tokenizer.json": task.vocab.to_dict()})  # no ngram.json, no decoding
    assert old.lm is None and old.chosen == (5, 0.0)
    torch.manual_seed(0)
    model = Seq2Seq(task.model).eval()
    assert old.predict(model, ["the king is dead"])[0]["output"] in {
        " ".join(p) for p in itertools.permutations("the king is dead".split())
    }
    with pytest.raises(RnnkitError, match="no n-gram"):
        old.reorder(model, [["the", "king"]], 5, 1.0)
    old.prepare()  # resumed or evaluated: the n-gram is fitted again, as it was
    assert old.lm.to_dict() == task.lm.to_dict()


# -- the corpora -----------------------------------------------------------------------------


def test_the_corpora_are_named_datasets_and_one_source_is_taken(tmp_path):
    assert named.names("reorder") == ["kjv", "shakespeare"]
    assert named.get("shakespeare", "reorder").load() == read_text(None)
    with pytest.raises(RnnkitError, match="not both"):
        ReorderData(data="x.txt", dataset="kjv").validate()
    with pytest.raises(RnnkitError, match="no reorder dataset 'emoji'"):
        ReorderTask(ReorderData(dataset="emoji"), Seq2SeqConfig()).prepare()
    assert ReorderTask(ReorderData(), Seq2SeqConfig()).prepare().info["source"] == "shakespeare"


def test_the_king_james_text_from_a_package_made_here(tmp_path, monkeypatch):
    from tests.test_translate import fake_deb

    book = '<div type="book" osisID="Gen" sID="g"/><title type="main">Genesis</title>'
    ch = '<chapter sID="Gen.{n}" osisID="Gen.{n}"/>'
    ot = ["", book, ch.format(n=1), "In the <w>beginning</w> God created the heaven.<note>n</note>",
          "\u00b6 And God said, Let there be light: and there was light.", ch.format(n=2),
          "And the evening and the morning were the first day."]  # fmt: skip
    nt = ["", book.replace("Gen", "Matt"), ch.format(n=1).replace("Gen", "Matt"),
          "Jesus wept. Then said they unto him, Who art thou?"]  # fmt: skip
    (tmp_path / "packages").mkdir()
    fake_deb(tmp_path / "packages" / "sword-text-kjv_1_all.deb", "engKJV2006eb", ot, nt)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    text = named.get("kjv", "reorder").load()
    assert text.splitlines() == [
        "In the beginning God created the heaven.",
        "And God said, Let there be light: and there was light.",
        "And the evening and the morning were the first day.",
        "Jesus wept. Then said they unto him, Who art thou?",
    ]
    task = ReorderTask(ReorderData(dataset="kjv", min_words=2, max_words=12, val=0.25, test=0.25),
                       Seq2SeqConfig())  # fmt: skip
    splits = task.prepare()
    assert splits.info["source"] == "kjv"
    assert sum(splits.info["split"].values()) == 5  # verses cut at "." and "?": five sentences
