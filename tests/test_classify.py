"""Sequence classification: readers, padding never reaching the result, the command end to end,
and bad input answered with one line and exit code 2."""

from __future__ import annotations

import csv
import json
import random

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.splits import split_indices
from rnnkit.data.tables import read_labelled_texts
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier

FILLER = "the a movie film plot actor scene story was is very quite rather".split()


def write_reviews(path, n=400, seed=0):
    """Reviews whose label is set by one word (great/awful) among random filler words."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["review", "sentiment"])
        for _ in range(n):
            lab = rng.choice(["pos", "neg"])
            toks = rng.choices(FILLER, k=rng.randint(2, 12))
            toks.insert(rng.randrange(len(toks) + 1), "great" if lab == "pos" else "awful")
            w.writerow([" ".join(toks), lab])


@pytest.mark.parametrize("pool", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_reaches_the_logits(pool, bidirectional):
    """A padded batch gives each row the logits it gets alone (torch.nn backend as reference
    for the same weights)."""
    torch.manual_seed(0)
    cfg = ClassifierConfig(num_classes=3, vocab_size=20, embed_dim=8, hidden_size=6, pool=pool,
                           bidirectional=bidirectional, dropout=0.0)  # fmt: skip
    model = SequenceClassifier(cfg).eval()
    ref = SequenceClassifier(ClassifierConfig(**{**cfg.to_dict(), "backend": "torch"})).eval()
    ref.load_state_dict(model.state_dict())
    lengths = torch.tensor([5, 2, 7])
    x = torch.randint(1, 20, (3, 7))
    x[1, 2:] = 0
    x[0, 5:] = 0
    batch = model(x, lengths)
    for r in range(3):
        alone = ref(x[r : r + 1, : lengths[r]], lengths[r : r + 1])
        torch.testing.assert_close(batch[r : r + 1], alone, atol=1e-5, rtol=1e-5)


def test_feature_sequences_and_gradients_flow():
    cfg = ClassifierConfig(num_classes=10, input_size=8, hidden_size=12, dropout=0.0)
    model = SequenceClassifier(cfg)
    x = torch.randn(4, 8, 8)
    out = model(x, torch.tensor([8, 8, 5, 3]))
    assert out.shape == (4, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_tables_read_named_columns_and_skip_empty_rows(tmp_path, suffix):
    rows = [("good film", "pos"), ("", "neg"), ("bad, bad film", "neg"), ("meh", "")]
    path = tmp_path / f"t{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps({"body": t, "y": y}) for t, y in rows))
    else:
        with open(path, "w", newline="") as f:
            w = csv.writer(f, delimiter="\t" if suffix == ".tsv" else ",")
            w.writerow(["body", "y"])
            w.writerows(rows)
    data = read_labelled_texts(path, "body", "y")
    assert data.texts == ["good film", "bad, bad film"]
    assert data.labels == ["pos", "neg"]
    assert data.skipped == 2
    with pytest.raises(RnnkitError, match="no text column 'text'"):
        read_labelled_texts(path, "text", "y")


def test_split_is_disjoint_and_complete():
    tr, va, te = split_indices(103, 0.1, 0.2, seed=3)
    assert sorted(tr + va + te) == list(range(103))
    assert len(te) == 21 and len(va) == 10


def test_train_classify_and_predict_end_to_end(tmp_path, capsys):
    data, out = tmp_path / "reviews.csv", tmp_path / "run"
    write_reviews(data)
    argv = ["train", "classify", "--data", str(data), "--out", str(out), "--epochs", "12",
            "--eval-every", "20", "--hidden", "16", "--embed", "16", "--lr", "0.01", "--quiet",
            "--json"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["test"]["accuracy"] >= 0.9
    assert results["baseline"]["accuracy"] >= 0.9  # the baseline solves it too
    averaged = results["training"]["averaged"]  # by default, of the 5 best checkpoints
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    evaluations = sum("val_accuracy" in r and "averaged_steps" not in r for r in records)
    assert len(averaged["steps"]) == min(5, evaluations) >= 2
    assert results["training"]["best_step"] in averaged["steps"]
    assert (out / "ckpt" / "average").is_dir() and (out / "best").read_text() == "average"
    assert (out / "confusion.png").stat().st_size > 1000
    assert main(["predict", str(out), "--json", "the plot was great", "awful film"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert [p["label"] for p in preds] == ["pos", "neg"]
    for p in preds:
        assert p["probability"] == pytest.approx(max(p["probabilities"].values()), abs=1e-3)
        assert sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert main(["predict", str(out), "a great story"]) == 0
    assert capsys.readouterr().out.startswith("pos\t")


def _bad(argv, capsys, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    good = tmp_path / "r.csv"
    write_reviews(good, n=20)
    one = tmp_path / "one.csv"
    one.write_text("text,label\na,x\nb,x\nc,x\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n,\n ,x\n")
    base = ["train", "classify", "--out", str(tmp_path / "o"), "--quiet"]
    _bad([*base, "--data", str(good), "--label-col", "stars"], capsys, "no label column 'stars'")
    _bad([*base, "--data", str(one)], capsys, "need 2+ classes")
    _bad([*base, "--data", str(empty)], capsys, "every row has an empty")
    _bad([*base, "--data", str(tmp_path / "none.csv")], capsys, "not found")
    _bad([*base, "--dataset", "no-such-set"], capsys, "no classify dataset 'no-such-set'")
