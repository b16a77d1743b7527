"""Tagging: CoNLL reading (malformed lines reported by number), the baseline, padding never
reaching the tags, the command end to end with seqeval scoring, and bad input."""

from __future__ import annotations

import json
import random

import pytest
import torch

from rnnkit.baselines.classic import most_frequent_tag
from rnnkit.cli.main import main
from rnnkit.data.conll import parse_conll, read_conll
from rnnkit.errors import RnnkitError
from rnnkit.models.tagger import SHAPES, SequenceTagger, TaggerConfig, token_shape
from rnnkit.scoring.tagging import scores
from rnnkit.tasks.tag import is_bio, tokenize

NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank"]
CITIES = ["Paris", "Oslo", "Lima", "Rome"]
WORDS = "met saw in the at from and with today yesterday".split()


def write_conll(path, n=300, seed=0):
    """Names are B-PER, cities B-LOC, 'New York' B-LOC I-LOC, and 'Jordan' is a person after
    'met' but a place after 'in': only context tells, which the baseline cannot see."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        for _ in range(rng.randint(3, 9)):
            r = rng.random()
            if r < 0.15:
                lines.append(f"{rng.choice(NAMES)}\tB-PER")
            elif r < 0.25:
                lines.append(f"{rng.choice(CITIES)}\tB-LOC")
            elif r < 0.3:
                lines += ["New\tB-LOC", "York\tI-LOC"]
            elif r < 0.4:
                lines += (
                    ["met\tO", "Jordan\tB-PER"]
                    if rng.random() < 0.5
                    else ["in\tO", "Jordan\tB-LOC"]
                )
            else:
                lines.append(f"{rng.choice(WORDS)}\tO")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


def test_parse_conll_forms_and_line_numbers():
    text = "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nHi\tO\n \t\n"
    assert parse_conll(text) == [(["EU", "rejects"], ["B-ORG", "O"]), (["Hi"], ["O"])]
    with pytest.raises(RnnkitError, match=r"f.conll:3: expected 'TOKEN<tab>TAG'"):
        parse_conll("a\tO\n\nlonely\n", "f.conll")


def test_most_frequent_tag_baseline():
    train = [(["a", "b", "a"], ["X", "Y", "X"]), (["a", "c"], ["Y", "Y"])]
    assert most_frequent_tag(train, [["a", "b", "zzz"]]) == [["X", "Y", "Y"]]


def test_scores_use_seqeval_entities():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]  # one of two entities right (the PER span is cut)
    s = scores(gold, pred, bio=True)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5)
    assert s["token_accuracy"] == pytest.approx(0.75)
    assert is_bio({"O", "B-x", "I-x"}) and not is_bio({"NN", "VB"})


def test_shapes_and_tokenizer():
    assert SHAPES[token_shape("@paul")] == "mention"
    assert SHAPES[token_shape("Paris")] == "title"
    assert SHAPES[token_shape("NASA")] == "upper"
    assert SHAPES[token_shape("https://x.y/z")] == "url"
    assert tokenize("Hi @bob, see https://x.y/z #fun!") == [
        "Hi", "@bob", ",", "see", "https://x.y/z", "#fun", "!",
    ]  # fmt: skip


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_reaches_the_tags(bidirectional):
    torch.manual_seed(0)
    cfg = TaggerConfig(vocab_size=30, num_tags=5, embed_dim=8, shape_dim=4, hidden_size=6,
                       bidirectional=bidirectional, dropout=0.0)  # fmt: skip
    model = SequenceTagger(cfg).eval()
    ref = SequenceTagger(TaggerConfig(**{**cfg.to_dict(), "backend": "torch"})).eval()
    ref.load_state_dict(model.state_dict())
    lengths = torch.tensor([4, 6, 1])
    words, shapes = torch.randint(0, 30, (3, 6)), torch.randint(0, len(SHAPES), (3, 6))
    batch = model(words, shapes, lengths)
    for r in range(3):
        n = int(lengths[r])
        alone = ref(words[r : r + 1, :n], shapes[r : r + 1, :n], lengths[r : r + 1])
        torch.testing.assert_close(batch[r : r + 1, :n], alone, atol=1e-5, rtol=1e-5)


def test_train_tag_and_predict_end_to_end(tmp_path, capsys):
    data, out = tmp_path / "ner.conll", tmp_path / "run"
    write_conll(data)
    assert len(read_conll(data)) == 300
    argv = ["train", "tag", "--data", str(data), "--out", str(out), "--epochs", "10",
            "--dropout", "0.1", "--batch-size", "8", "--hidden", "16", "--embed", "16",
            "--lr", "0.01", "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["scheme"].startswith("BIO")
    assert r["test"]["f1"] >= 0.9
    assert r["baseline"]["f1"] < r["test"]["f1"]  # 'Jordan' needs the context
    assert main(["predict", str(out), "Alice met Jordan in New York"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == "Alice/B-PER met/O Jordan/B-PER in/O New/B-LOC York/I-LOC", line
    assert main(["predict", str(out), "--json", "Carol"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["tokens"] == [["Carol", "B-PER"]]


def test_bad_conll_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.conll"
    bad.write_text("a\tO\nb\tB-X\n\nbroken_line_without_tag\n")
    assert main(["train", "tag", "--data", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.conll:4:" in err, err
    single = tmp_path / "single.conll"
    single.write_text("a\tO\nb\tO\n\nc\tO\n")
    assert main(["train", "tag", "--data", str(single), "--out", str(tmp_path / "o")]) == 2
    assert "need 2+ tags" in capsys.readouterr().err
