"""The dialogue task: the Kneser-Ney models of replies against hand computations, perplexity per
word, the share of the most frequent reply, the choice of a decoding by the bars, and a tiny
`train chat` whose results.json, loaded run, `predict` and `rnnkit chat` all use the decoding
chosen on its validation split."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from rnnkit.baselines.kneser_ney import KneserNey
from rnnkit.baselines.word_lm import WordKneserNey
from rnnkit.errors import RnnkitError
from rnnkit.generate.decoding import Decoding
from rnnkit.generate.rerank import mmi_score
from rnnkit.scoring.distinct import top_reply_share
from rnnkit.scoring.perplexity import perplexity_per_word, word_count
from rnnkit.tasks.text.chat import MAX_SHARE, choose, decoding_grid, shortfall
from tests.test_cli_lm import cli

# -- the replies' language model ---------------------------------------------------------------


def test_one_token_probability_is_the_distribution_entry_and_survives_json():
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(2, 9, size=rng.integers(1, 7))) + [1] for _ in range(40)]
    kn = KneserNey(3, 9, 0).fit(seqs)
    again = KneserNey.from_dict(json.loads(json.dumps(kn.to_dict(), default=int)))
    for history in ([], [3], [3, 4], [8, 8, 2], [5, 5, 5, 5]):
        p = kn.distribution(history)
        assert [kn.prob(history, w) for w in range(9)] == p.tolist()  # the same arithmetic
        assert [again.prob(history, w) for w in range(9)] == p.tolist()
    assert kn.nll(seqs[:5]) == again.nll(seqs[:5])


def toy_lm() -> WordKneserNey:
    # training tokens: a b </s> | b a c </s>: a, b and </s> twice, c once (so <unk>)
    return WordKneserNey(order=1, min_count=2, char_order=1).fit(["a b", "b a c"])


def test_word_probabilities_match_a_hand_computation():
    lm = toy_lm()
    # Word unigrams, 7 tokens; counts of counts n1=1, n2=3, n3=0: the fallback discounts
    # D1=0.5, D2=1; backoff mass (1+1+1+0.5)/7 = 1/2 spread over 4 predicted ids
    # (<unk>, </s>, a, b): p(a) = p(b) = p(</s>) = 1/7 + 1/8 = 15/56, p(<unk>) = 1/14 + 1/8.
    # Spelling unigrams of the rare word "c": c </w>, one each (fallback again): backoff mass
    # 1/2 over 3 ids (<unk char>, </w>, c): p(c) = p(</w>) = 1/4 + 1/6, p(<unk char>) = 1/6.
    # The vocabulary's spellings a </w> and b </w> (a, b unknown characters) hold
    # 2 * 1/6 * 5/12 = 5/36, so an unseen word's spelling is divided by 31/36.
    p_word, p_unk = 15 / 56, 11 / 56
    spell = {"d": 1 / 6 * 5 / 12, "c": 5 / 12 * 5 / 12}
    want = (2 * math.log(p_word) + 2 * math.log(p_unk)
            + sum(math.log(spell[w] / (31 / 36)) for w in "dc"))  # fmt: skip
    assert lm.logprob("a d c") == pytest.approx(want, abs=1e-12)  # a, d, c and the end
    assert lm.logprob("") == pytest.approx(math.log(p_word), abs=1e-12)
    assert perplexity_per_word(-lm.logprob("a d c"), ["a d c"]) == pytest.approx(
        math.exp(-want / 4))  # fmt: skip


def test_every_text_has_a_probability_where_the_discount_estimate_fails(tmp_path):
    from rnnkit.data.parallel import read_pairs
    from tests.test_translate import write_pairs

    write_pairs(tmp_path / "pairs.tsv", 120)  # few words, very regular: D2 estimates below 0
    lm = WordKneserNey().fit(read_pairs(str(tmp_path / "pairs.tsv"), None, None).targets)
    assert lm.words.discounts[-1] == (0.5, 1.0, 1.5)  # the fallback, not a D2 of 0
    for text in ("perro pez ve <s> pájaro", "el gato", "el el el el"):
        assert math.isfinite(lm.logprob(text))


def test_the_word_model_goes_through_json_and_refuses_anything_else():
    lm = WordKneserNey().fit(["Ay, my lord.", "Good morrow, my lord.", "What say you, sir?"] * 3)
    again = WordKneserNey.from_dict(json.loads(json.dumps(lm.to_dict(), default=int)))
    for text in ("Ay, my good lord.", "Zounds!", ""):
        assert again.logprob(text) == lm.logprob(text)
    with pytest.raises(RnnkitError, match="not a word Kneser-Ney model"):
        WordKneserNey.from_dict({"kind": "word-kneser-ney", "vocab": []})


def test_perplexity_per_word_counts_whitespace_words_and_one_end_each():
    assert word_count(["Ay, my lord.", "", "No."]) == 4 + 1 + 2
    assert perplexity_per_word(14.0, ["Ay, my lord.", "", "No."]) == pytest.approx(math.exp(2.0))


def test_top_reply_share_is_the_most_frequent_replys_share():
    replies = ["Ay, my lord.", "ay,  my lord.", "No.", "What?", "No."]
    assert top_reply_share(replies) == pytest.approx(2 / 5)  # case and spaces as distinct-n
    assert top_reply_share(["a", "b"]) == 0.5 and top_reply_share([]) == 0.0


# -- the choice of a decoding ------------------------------------------------------------------

RETRIEVAL = {"bleu": 0.1, "distinct1": 0.2, "distinct2": 0.5, "top_reply_share": 0.01}
FIGURES = {
    "beam": {"bleu": 5.0, "distinct1": 0.05, "distinct2": 0.1, "top_reply_share": 0.5},
    "nucleus": {"bleu": 1.0, "distinct1": 0.3, "distinct2": 0.7, "top_reply_share": 0.01},
    "mmi a": {"bleu": 2.0, "distinct1": 0.25, "distinct2": 0.6, "top_reply_share": 0.05},
    "mmi b": {"bleu": 3.0, "distinct1": 0.1, "distinct2": 0.6, "top_reply_share": 0.02},
}


def test_the_choice_is_the_best_bleu_that_meets_the_bars_else_the_least_short():
    assert MAX_SHARE == 0.05
    assert [shortfall(f, RETRIEVAL) for f in FIGURES.values()] == pytest.approx(
        [0.15 + 0.4 + 0.45, 0, 0, 0.1])  # fmt: skip
    assert choose(FIGURES, RETRIEVAL) == "mmi a"  # beam and mmi b score higher but fall short
    short = {k: FIGURES[k] for k in ("beam", "mmi b")}
    assert choose(short, RETRIEVAL) == "mmi b"
    tied = {"x": FIGURES["mmi a"], "y": FIGURES["mmi a"]}
    assert choose(tied, RETRIEVAL) == "x"


def test_the_grid_holds_the_beam_one_nucleus_sample_and_seeded_mmi_rerankings():
    grid = decoding_grid()
    assert grid[0] == Decoding(beam=5, no_repeat=3)
    assert grid[1].samples == 1 and grid[1].sampling and grid[1].seed is not None
    reranked = grid[2:]
    assert {(d.mmi, d.length_bonus) for d in reranked} >= {(0.0, 0.0), (0.5, 0.0)}
    assert all(d.samples > 1 and d.seed == grid[1].seed for d in reranked)
    assert len({d.name() for d in grid}) == len(grid)


# -- a tiny run ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory):
    from rnnkit.runs.driver import fit

    d = tmp_path_factory.mktemp("chat")
    rows = [{"line": f"hello number {i}", "reply": f"greetings to number {i}"} for i in range(60)]
    (d / "turns.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    fit("chat", data={"data": str(d / "turns.jsonl"), "src_col": "line", "tgt_col": "reply",
                      "tokens": "word", "val": 0.1, "test": 0.1},
        model={"hidden_size": 16, "embed_dim": 8},
        train={"max_steps": 20, "eval_every": 10, "progress": False, "lr": 0.02},
        out=d / "run")  # fmt: skip
    return d / "run"


@pytest.fixture(scope="module")
def loaded(chat_run):
    from rnnkit.runs.driver import load_run

    run = load_run(chat_run)
    return run, run.task.prepare()  # the splits, re-read


def test_results_hold_the_choice_the_perplexities_and_both_baselines(chat_run):
    r = json.loads((chat_run / "results.json").read_text())
    figures = {"bleu", "distinct1", "distinct2", "top_reply_share"}
    d = r["decoding"]
    assert set(d["validation"]) == {x.name() for x in decoding_grid()}
    assert all(set(f) == figures for f in d["validation"].values())
    assert d["name"] == choose(d["validation"], d["validation_retrieval"])
    assert d["name"] == Decoding.from_dict(d["chosen"]).name() == r["test"]["decoding"]
    assert set(r["test"]) == figures | {"pairs", "decoding", "perplexity_word", "perplexity_token"}
    assert r["test"]["perplexity_word"] > 1 and 0 < r["test"]["top_reply_share"] <= 1
    assert 0 < d["validation_pairs"] <= r["split"]["val"]
    assert set(r["baselines"]) == {"retrieval", "kneser_ney"}
    assert figures <= set(r["baselines"]["retrieval"])
    assert r["baselines"]["kneser_ney"]["perplexity_word"] > 1
    assert (chat_run / "reply_lm.json").is_file() and (chat_run / "loss_curve.png").is_file()


def test_the_console_table_shows_the_new_figures(chat_run):
    from rnnkit.tasks.text.chat import ChatTask

    r = json.loads((chat_run / "results.json").read_text())
    table = ChatTask.format_results(r)
    for heading in ("ppl/word", "ppl/tok", "dist-2", "top-rep", "Kneser-Ney", "chosen on"):
        assert heading in table
    kn_row = next(line for line in table.splitlines() if "Kneser-Ney" in line)
    assert f"{r['baselines']['kneser_ney']['perplexity_word']:.1f}" in kn_row


def test_both_perplexities_per_word_are_of_the_same_words(chat_run, loaded):
    r = json.loads((chat_run / "results.json").read_text())
    run, splits = loaded
    refs = [t for _, t in splits.test]
    tokens = sum(len(run.task.tgt_tok.encode(t)) + 1 for t in refs)
    words = sum(len(t.split()) + 1 for t in refs)
    # one total log-likelihood, counted per token and per word
    assert math.log(r["test"]["perplexity_word"]) * words == pytest.approx(
        math.log(r["test"]["perplexity_token"]) * tokens, rel=1e-9)  # fmt: skip
    lm_nll = -sum(run.task.reply_lm().logprob(t) for t in refs)  # the saved reply_lm.json
    assert r["baselines"]["kneser_ney"]["perplexity_word"] == pytest.approx(
        math.exp(lm_nll / words), rel=1e-12)  # fmt: skip


def test_a_loaded_run_decodes_the_test_split_again_as_it_was_tested(chat_run, loaded):
    r = json.loads((chat_run / "results.json").read_text())
    run, splits = loaded
    assert run.task.chosen == Decoding.from_dict(r["decoding"]["chosen"])
    assert run.task.default_decoding() == run.task.chosen
    rows = run.task.decode_with(run.model, [s for s, _ in splits.test], run.task.chosen)
    again = run.task.figures([x["text"] for x in rows], [t for _, t in splits.test])
    assert again == pytest.approx({k: r["test"][k] for k in again})  # seeded: the same replies


def test_reranking_keeps_the_candidate_the_formula_scores_best(loaded):
    run, splits = loaded
    task, lines = run.task, [s for s, _ in splits.val]
    d = Decoding(temperature=1.0, top_p=0.9, samples=4, mmi=0.5, length_bonus=0.5, seed=3)
    pool = task.candidates(run.model, lines, d)  # what decode_with draws from the same seed
    assert [len(g) for g in pool] == [4] * len(lines)
    picked = task.decode_with(run.model, lines, d)
    lm = task.reply_lm()
    for group, row in zip(pool, picked, strict=True):
        scores = [r["logprob"] - 0.5 * lm.logprob(r["text"]) + 0.5 * len(r["text"].split())
                  for r in group]  # fmt: skip
        assert row["text"] == group[int(np.argmax(scores))]["text"]
        assert max(scores) == pytest.approx(mmi_score(task.scored([[row]], True)[0][0], 0.5, 0.5))


def test_predict_and_the_chat_command_answer_with_the_chosen_decoding(
    chat_run, loaded, capsys, monkeypatch
):  # fmt: skip
    run, _ = loaded
    line = "hello number 7"
    (want,) = run.task.decode_with(run.model, [line], run.task.chosen)
    assert [run.predict([line])[0]["output"] for _ in range(2)] == [want["text"]] * 2
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{line}\n"))
    code, out, err = cli(capsys, "chat", chat_run)
    assert code == 0, err
    assert out.splitlines() == [want["text"]]
    (beam,) = run.predict([line], beam=2)  # a flag: exactly that decoding instead
    (by_hand,) = run.task.decode_with(run.model, [line], Decoding(beam=2))
    assert beam["output"] == by_hand["text"]


def test_chat_command_reads_standard_input_line_by_line(chat_run, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello number 3\n\n@@@\nhello\n/quit\nnot read\n"))
    code, out, err = cli(capsys, "chat", chat_run, "--temperature", "0.7", "--seed", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3  # the blank line is skipped, /quit ends before "not read"
    assert "vocabulary" in lines[1]  # a line of unknown words gets a note, not an exit
    code, out, err = cli(capsys, "chat", chat_run.parent, "--beam", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_a_run_whose_results_name_a_bad_decoding_is_refused_in_one_line(chat_run, tmp_path):
    import shutil

    from rnnkit.runs.driver import load_run

    copy = tmp_path / "run"
    shutil.copytree(chat_run, copy)
    r = json.loads((copy / "results.json").read_text())
    r["decoding"]["chosen"]["samples"] = 0
    (copy / "results.json").write_text(json.dumps(r))
    with pytest.raises(RnnkitError, match="samples must be in"):
        load_run(copy)
