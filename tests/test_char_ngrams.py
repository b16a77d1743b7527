"""Hashed character n-grams for the word-level classifier: bucket ids against a plain-Python
reference (n-grams and CRC-32 written out here), stable across processes, unknown words kept
apart, padding inert, and the setting off where there are no words or in an old run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.char_ngrams import (
    NgramHasher,
    bucket_ids,
    char_ngrams,
    char_windows,
    window_bucket_ids,
)
from rnnkit.data.tokenizers import fit_tokenizer
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.runs.driver import load_run, make_task
from rnnkit.tasks.classify import CHAR_NGRAM_BAG, CHAR_NGRAM_BUCKETS, NGRAM_BUCKETS
from tests.test_classify import write_reviews


def crc32_reference(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def buckets_reference(word: str, buckets: int) -> list[int]:
    marked = "<" + word + ">"
    grams = []
    for n in (3, 4, 5):
        for start in range(0, len(marked) - n + 1):
            grams.append(marked[start : start + n])
    return [1 + crc32_reference(g.encode("utf-8")) % buckets for g in grams]


@pytest.mark.parametrize("word", ["a", "of", "film", "unwatchable", "café", "😀ok"])
def test_bucket_ids_match_a_plain_python_reference(word):
    assert bucket_ids(word, 16384) == buckets_reference(word, 16384)
    assert bucket_ids(word, 7) == buckets_reference(word, 7)
    assert all(1 <= b <= 7 for b in bucket_ids(word, 7))  # row 0 stays padding


def test_ngrams_carry_boundary_markers():
    assert char_ngrams("a") == ["<a>"]
    assert char_ngrams("film") == ["<fi", "fil", "ilm", "lm>", "<fil", "film", "ilm>",
                                   "<film", "film>"]  # fmt: skip


def test_buckets_are_the_same_in_a_fresh_process():
    """zlib.crc32, not Python's salted hash: another process, another hash seed, same rows."""
    code = "from rnnkit.data.char_ngrams import bucket_ids; print(bucket_ids('unwatchable', 16384))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.strip() == str(bucket_ids("unwatchable", 16384))


def test_batch_table_indexes_each_distinct_word_once():
    hasher = NgramHasher(100)
    index, table = hasher.batch([["good", "film"], ["film"]], 3)
    assert index.tolist() == [[1, 2, 0], [2, 0, 0]]
    assert table.shape == (3, len(char_ngrams("good")))
    assert table[0].tolist() == [0] * table.shape[1]
    assert table[2, :9].tolist() == bucket_ids("film", 100)


def _model(buckets: int) -> SequenceClassifier:
    torch.manual_seed(0)
    cfg = ClassifierConfig(num_classes=2, vocab_size=10, embed_dim=6, hidden_size=5, pool="max",
                           bidirectional=True, dropout=0.0, ngram_buckets=buckets)  # fmt: skip
    return SequenceClassifier(cfg).eval()


def test_inputs_are_word_vector_plus_mean_of_ngram_vectors():
    model = _model(50)
    hasher = NgramHasher(50)
    x = torch.tensor([[3, 0]])
    index, table = hasher.batch([["film", "zzqx"]], 2)
    got = model.inputs(x, (index, table))[0]
    for t, word in enumerate(["film", "zzqx"]):
        rows = model.ngrams.weight[bucket_ids(word, 50)]
        want = model.embed.weight[int(x[0, t])] + rows.mean(0)
        torch.testing.assert_close(got[t], want)


def test_two_unknown_words_get_different_inputs(tmp_path):
    """Both are <unk> (id 0) to the word vocabulary; their n-grams tell them apart, and the
    same unknown word gets the same vector wherever it appears."""
    task = make_task("classify", {"data": "x.csv"}, {"embed_dim": 6, "hidden_size": 5,
                                                     "ngram_buckets": 64})  # fmt: skip
    task.tokenizer = fit_tokenizer(["good film", "bad film"], "word", 100, 1, lowercase=True)
    task.labels = ["neg", "pos"]
    task.model.vocab_size, task.model.num_classes = len(task.tokenizer), 2
    model = task.build_model().eval()
    (batch,), _ = task.make_batches(["zzqx blorf zzqx film"], [0], 8)
    ids, index, table = batch[0]
    assert ids[0, :3].tolist() == [0, 0, 0]
    feats = model.inputs(ids, (index, table))[0]
    assert not torch.allclose(feats[0], feats[1])
    torch.testing.assert_close(feats[0], feats[2])


def test_padding_and_batch_company_never_change_the_logits():
    model = _model(40)
    hasher = NgramHasher(40)
    words = [["great", "film", "zzqx"], ["dull"], ["a", "b", "c", "d"]]
    ids = torch.tensor([[4, 3, 0, 0], [5, 0, 0, 0], [1, 2, 6, 7]])
    lengths = torch.tensor([3, 1, 4])
    together = model(ids, lengths, hasher.batch(words, 4))
    for r in range(3):
        n = int(lengths[r])
        alone = model(ids[r : r + 1, :n], lengths[r : r + 1], hasher.batch([words[r]], n))
        torch.testing.assert_close(together[r : r + 1], alone, atol=1e-5, rtol=1e-5)


def test_a_model_with_ngrams_refuses_a_batch_without_them():
    with pytest.raises(Exception, match="pass ngrams"):
        _model(10)(torch.tensor([[1, 2]]), torch.tensor([2]))


def test_old_configs_and_inputs_without_words_have_no_ngrams():
    """A saved config without the key (None) builds the model it was trained as; char level
    and feature sequences settle an unset value to 0."""
    old = {"num_classes": 2, "vocab_size": 10, "embed_dim": 6, "hidden_size": 5}
    assert SequenceClassifier(ClassifierConfig.from_dict(old)).ngrams is None
    task = make_task("classify", {"dataset": "digits-rows"}, {})
    task.resolve_ngrams(fitting=False, level="word")  # a restored run saved before the key
    assert task.model.ngram_buckets == 0
    new = make_task("classify", {"dataset": "digits-rows"}, {})
    new.resolve_ngrams(fitting=True, level=None)  # feature sequences
    assert new.model.ngram_buckets == 0
    with pytest.raises(Exception, match="ngram_buckets needs text tokens"):
        ClassifierConfig(num_classes=2, input_size=8, ngram_buckets=10).validate()


def test_digits_rows_prepares_with_ngrams_off():
    task = make_task("classify", {"dataset": "digits-rows"}, {})
    task.prepare()
    assert task.model.ngram_buckets == 0
    assert task.build_model().ngrams is None


def test_ngrams_asked_for_on_feature_sequences_is_one_line_exit_2(tmp_path, capsys):
    argv = ["train", "classify", "--dataset", "digits-rows", "--ngram-buckets", "100",
            "--out", str(tmp_path / "o"), "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ngram_buckets needs text" in err, err


@pytest.mark.parametrize(("given", "want"), [(None, NGRAM_BUCKETS), (300, 300), (0, 0)])
def test_unset_ngram_buckets_is_on_for_new_word_level_runs(given, want):
    task = make_task("classify", {"data": "x.csv"}, {"ngram_buckets": given})
    task.resolve_ngrams(fitting=True, level="word")
    assert task.model.ngram_buckets == want


def test_char_level_windows_hash_the_ngrams_ending_at_each_character():
    """Each character's window is the 5 characters up to it; its buckets are those of the
    2- to 5-grams that end there (written out here), so "ab" ending a word is one bucket
    wherever it occurs."""
    assert char_windows(list("abcdefg")) == ["a", "ab", "abc", "abcd", "abcde", "bcdef",
                                             "cdefg"]  # fmt: skip
    want = [1 + crc32_reference(g.encode()) % 97 for g in ("fg", "efg", "defg", "cdefg")]
    assert window_bucket_ids("cdefg", 97) == want
    assert window_bucket_ids("a", 97) == []
    hasher = NgramHasher(97, "char")
    assert hasher("xab") == [1 + crc32_reference(g.encode()) % 97 for g in ("ab", "xab")]
    with pytest.raises(ValueError, match="level"):
        NgramHasher(97, "byte")


def test_char_level_ngrams_train_and_reload(tmp_path, capsys):
    """At char level the n-grams follow the kept characters one for one (an unseen
    character is dropped from both), and a saved run scores its test split as training did."""
    data, out = tmp_path / "reviews.csv", tmp_path / "run"
    write_reviews(data, n=120)
    argv = ["train", "classify", "--data", str(data), "--out", str(out), "--epochs", "1",
            "--level", "char", "--hidden", "8", "--embed", "8", "--ngram-buckets", "64",
            "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    trained = json.loads(capsys.readouterr().out)
    assert json.loads((out / "config.json").read_text())["model"]["ngram_buckets"] == 64
    run = load_run(out)
    ids, windows = run.task.tokens("ga\u2603t")  # the snowman was never seen in training
    assert len(ids) == len(windows) == 3 and windows[-1] == "gat"
    assert run.evaluate()["accuracy"] == trained["test"]["accuracy"]
    assert len(run.predict(["Great film \u2603"])) == 1


def test_a_saved_run_with_ngrams_reproduces_its_test_figure(tmp_path, capsys):
    """The buckets are a function of the strings, so the loaded run scores its test split as
    training did; the config keeps the setting."""
    data, out = tmp_path / "reviews.csv", tmp_path / "run"
    write_reviews(data, n=200)
    argv = ["train", "classify", "--data", str(data), "--out", str(out), "--epochs", "2",
            "--hidden", "8", "--embed", "8", "--ngram-buckets", "64", "--quiet",
            "--json"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads(capsys.readouterr().out)
    assert json.loads((out / "config.json").read_text())["model"]["ngram_buckets"] == 64
    assert main(["evaluate", str(out), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["accuracy"] == results["test"]["accuracy"]


def test_ngram_bag_is_the_mean_of_the_steps_ngram_vectors_and_ignores_padding():
    """With ngram_bag the output layer reads [pooled encoder ; mean n-gram vector]: checked
    against the mean written out, and a padded row scores as it does alone."""
    torch.manual_seed(0)
    config = ClassifierConfig(
        num_classes=2, vocab_size=10, embed_dim=6, hidden_size=5, ngram_buckets=50,
        ngram_bag=True, dropout=0.0, pool="max",
    )  # fmt: skip
    model = SequenceClassifier(config).eval()
    hasher = NgramHasher(50, "char")
    rows = [char_windows(list("abcab")), char_windows(list("ba"))]
    index, table = hasher.batch(rows, 5)
    x = torch.tensor([[1, 2, 3, 1, 2], [2, 1, 0, 0, 0]])
    lengths = torch.tensor([5, 2])
    vectors = model.ngrams(table)[index]  # (B, T, E)
    want = torch.stack([vectors[0].mean(0), vectors[1, :2].mean(0)])
    torch.testing.assert_close(model.bag(lengths, (index, table)), want)
    both = model(x, lengths, (index, table))
    i1, t1 = hasher.batch(rows[1:], 2)
    alone = model(x[1:, :2], lengths[1:], (i1, t1))
    torch.testing.assert_close(both[1:], alone)
    with pytest.raises(Exception, match="ngram_bag needs ngram_buckets"):
        ClassifierConfig(num_classes=2, vocab_size=10, ngram_bag=True, ngram_buckets=0).validate()


def test_unset_ngram_bag_is_the_tasks_choice_and_off_for_old_runs():
    word = make_task("classify", {"data": "x.csv"}, {})
    word.resolve_ngrams(fitting=True, level="word")
    assert word.model.ngram_bag is False
    char = make_task("classify", {"data": "x.csv", "level": "char"}, {"ngram_buckets": 64})
    char.resolve_ngrams(fitting=True, level="char")
    assert char.model.ngram_bag is CHAR_NGRAM_BAG
    fresh = make_task("classify", {"data": "x.csv", "level": "char"}, {})
    fresh.resolve_ngrams(fitting=True, level="char")  # a new char-level run at the defaults
    assert fresh.model.ngram_buckets == CHAR_NGRAM_BUCKETS and fresh.model.ngram_bag is True
    saved = make_task("classify", {"data": "x.csv", "level": "char"}, {"ngram_buckets": 64},
                      saved=True)  # fmt: skip
    saved.resolve_ngrams(fitting=False, level="char")
    assert saved.model.ngram_bag is False  # `absent`: a config from before the bag
