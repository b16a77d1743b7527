"""Translation: pair files, subword tokenizers, the IBM Model 1 baseline against a plain-loop
reference, the SWORD zText reader on a module built here, unknown-word replacement, the task
end to end through the CLI, and bad input as one-line errors."""

from __future__ import annotations

import csv
import io
import json
import lzma
import math
import struct
import tarfile
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.baselines.ibm_model1 import NULL, IBMModel1
from rnnkit.data import named
from rnnkit.data.parallel import read_pairs
from rnnkit.data.tokenizers import SubwordTokenizer, tokenizer_from_dict
from rnnkit.errors import RnnkitError
from rnnkit.generate.search import Hypothesis
from rnnkit.models.seq2seq import SPECIALS, UNK, Seq2SeqConfig
from rnnkit.tasks.text.translate import TranslateData, TranslateTask
from tests.test_cli_lm import assert_user_error, cli

LEXICON = {"the": "el", "cat": "gato", "dog": "perro", "sees": "ve", "eats": "come",
           "big": "grande", "small": "pequeño", "bird": "pájaro", "fish": "pez",
           "a": "un", "likes": "quiere", "red": "rojo"}  # fmt: skip
NOUNS, VERBS, ADJS = ["cat", "dog", "bird", "fish"], ["sees", "eats", "likes"], ["big", "small"]


def toy_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """English-like sentences and their word-by-word 'Spanish', adjectives after the noun."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        src, tgt = [], []
        for part in range(2):
            det, noun, adj = rng.choice(["the", "a"]), rng.choice(NOUNS), rng.choice(ADJS)
            src += [det, adj, noun]
            tgt += [LEXICON[det], LEXICON[noun], LEXICON[adj]]
            if part == 0:
                verb = rng.choice(VERBS)
                src.append(verb)
                tgt.append(LEXICON[verb])
        out.append((" ".join(src) + ".", " ".join(tgt) + "."))
    return out


def write_pairs(path: Path, n: int, seed: int = 0) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["source", "target"])
        w.writerows(toy_pairs(n, seed))
    return path


# -- pair files ------------------------------------------------------------------------------


def test_pairs_from_a_table_guess_columns_and_count_skipped_rows(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("id,source,target\n1,hello there,hola\n2,,vacío\n3,bye,\n4, good  day ,buen día\n")
    pairs = read_pairs(p)
    assert pairs.sources == ["hello there", "good day"] and pairs.targets == ["hola", "buen día"]
    assert pairs.skipped == 2 and pairs.groups == ["0", "3"]
    j = tmp_path / "p.jsonl"
    j.write_text(
        '{"en": "one", "es": "uno", "book": "a"}\n{"en": "two", "es": "dos", "book": "a"}\n'
    )
    pairs = read_pairs(j, "en", "es", group_col="book")
    assert pairs.sources == ["one", "two"] and pairs.groups == ["a", "a"]


def test_pairs_from_two_aligned_text_files(tmp_path):
    (tmp_path / "a.en").write_text("one\ntwo\n\nfour\n")
    (tmp_path / "a.es").write_text("uno\ndos\ntres\ncuatro\n")
    pairs = read_pairs(tmp_path / "a.en", tgt_file=tmp_path / "a.es")
    assert pairs.sources == ["one", "two", "four"]
    assert pairs.targets == ["uno", "dos", "cuatro"]
    assert pairs.skipped == 1
    (tmp_path / "b.es").write_text("uno\n")
    with pytest.raises(RnnkitError, match="has 4 lines but .* has 1"):
        read_pairs(tmp_path / "a.en", tgt_file=tmp_path / "b.es")


@pytest.mark.parametrize(
    "content, words",
    [("", ["empty"]), ("source,target\n", ["no rows"]), ("source,target\n,x\ny,\n", ["no row"]),
     ("a,b\n1,2\n", ["--src-col"])],
)  # fmt: skip
def test_bad_pair_files_are_one_line_errors(tmp_path, content, words):
    p = tmp_path / "p.csv"
    p.write_text(content)
    with pytest.raises(RnnkitError) as e:
        read_pairs(p)
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value)


# -- tokenizers ------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["bpe", "unigram", "char"])
def test_subword_tokenizers_round_trip_and_reload(level):
    texts = [s for s, _ in toy_pairs(200)]
    tok = SubwordTokenizer.fit(texts, level, 60, SPECIALS)
    assert tuple(tok.vocab[:4]) == SPECIALS and len(tok) <= max(60, len(tok))
    text = "the big cat sees a small fish."
    assert tok.decode(tok.encode(text)) == text
    assert tok.detokenize(tok.tokenize(text)) == text
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode(text) == tok.encode(text) and again.vocab == tok.vocab
    assert UNK in tok.encode("the Zebra")  # "Z" was never seen: <unk>, not an error
    if level == "bpe":
        assert len(tok.encode(text)) < len(text)  # merges: fewer tokens than characters


# -- IBM Model 1 -----------------------------------------------------------------------------


def model1_reference(pairs, iterations):
    """Model 1 EM as the textbook loops write it (Koehn, Statistical MT, fig. 4.3), with NULL."""
    t = defaultdict(lambda: 1.0)
    for _ in range(iterations):
        count, total = defaultdict(float), defaultdict(float)
        for src, tgt in pairs:
            f_words = [NULL, *src]
            for e in tgt:
                z = sum(t[e, f] for f in f_words)
                for f in f_words:
                    count[e, f] += t[e, f] / z
                    total[f] += t[e, f] / z
        t = defaultdict(float, {(e, f): c / total[f] for (e, f), c in count.items()})
    return t


def test_ibm_model1_matches_the_textbook_loops_and_learns_the_lexicon():
    pairs = [(s[:-1].split(), t[:-1].split()) for s, t in toy_pairs(60)]
    model = IBMModel1(pairs, iterations=4)
    ref = model1_reference(pairs, 4)
    for (e, f), p in ref.items():
        assert model.prob(e, f) == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert model.prob("gato", "unseen") == 0.0
    full = IBMModel1([(s[:-1].split(), t[:-1].split()) for s, t in toy_pairs(400)], 10)
    assert all(full.best[w] == LEXICON[w] for w in LEXICON if w in full.best)
    assert full.translate(["the", "cat", "Zorro"]) == ["el", "gato", "Zorro"]  # unknown: copied


# -- the Bible reader on a SWORD module made here ----------------------------------------------


def ztext(entries: list[str]) -> dict[str, bytes]:
    """One testament of a zText module holding ``entries`` (index order), in two blocks."""
    blocks, bzv = [], b""
    half = len(entries) // 2
    for b, part in enumerate((entries[:half], entries[half:])):
        data = b""
        for e in part:
            raw = e.encode()
            bzv += struct.pack("<IIH", b if raw else 0, len(data) if raw else 0, len(raw))
            data += raw
        blocks.append(zlib.compress(data))
    bzs, offset = b"", 0
    for blk in blocks:
        bzs += struct.pack("<III", offset, len(blk), 0)
        offset += len(blk)
    return {"bzs": bzs, "bzv": bzv, "bzz": b"".join(blocks)}


def fake_deb(path: Path, module: str, ot: list[str], nt: list[str]) -> None:
    """A .deb (ar archive, data.tar.xz) holding the module's zText files."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tf:
        for testament, entries in (("ot", ot), ("nt", nt)):
            for ext, data in ztext(entries).items():
                info = tarfile.TarInfo(f"./usr/share/sword/modules/texts/ztext/{module}/"
                                       f"{testament}.{ext}")  # fmt: skip
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    members = [("debian-binary", b"2.0\n"), ("control.tar.xz", lzma.compress(b"")),
               ("data.tar.xz", lzma.compress(tar_bytes.getvalue()))]  # fmt: skip
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    path.write_bytes(out)


def test_bible_reader_aligns_verses_by_index_and_groups_them_by_chapter(tmp_path, monkeypatch):
    from rnnkit.data.named.bible import load_bible

    book = '<div type="book" osisID="Gen" sID="g"/><title type="main">Genesis</title>'
    ch = '<chapter sID="Gen.{n}" osisID="Gen.{n}"/>'
    en = ["", "<milestone/>", book, ch.format(n=1),
          'In the <w lemma="H1">beginning</w> God.<note>a note</note>', "\u00b6 And light.",
          ch.format(n=2), "Verse empty in Spanish.", "Thus."]  # fmt: skip
    es = ["", "<milestone/>", book, ch.format(n=1), "En el <w>principio</w> Dios.",
          "Y luz.", ch.format(n=2), "", "Así."]  # fmt: skip
    nt_en, nt_es = ["", "", book.replace("Gen", "Matt"), ch.format(n=1).replace("Gen", "Matt"),
                    "The book."], ["", "", "x", "y", "El libro."]  # fmt: skip
    packages = tmp_path / "packages"
    packages.mkdir()
    fake_deb(packages / "sword-text-kjv_1_all.deb", "engKJV2006eb", en, nt_en)
    fake_deb(packages / "sword-text-sparv_1_all.deb", "spaRV1909eb", es, nt_es)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    verses = load_bible()
    assert [(v.chapter, v.en, v.es) for v in verses] == [
        ("Gen.1", "In the beginning God.", "En el principio Dios."),
        ("Gen.1", "And light.", "Y luz."),
        ("Gen.2", "Thus.", "Así."),
        ("Matt.1", "The book.", "El libro."),
    ]
    pairs, groups, source, _ = TranslateTask(TranslateData(), Seq2SeqConfig()).load()
    assert source == "bible-en-es" and pairs[2] == ("Thus.", "Así.")
    assert groups == ["Gen.1", "Gen.1", "Gen.2", "Matt.1"]


# -- Debian package descriptions in English and German, indexes written here -------------------

TRANSLATION_EN = """Package: libfoo1
Description-md5: a1
Description-en: library to frobnicate files
 Foo frobnicates files.

Package: libfoo-dev
Description-md5: b2
Description-en: library to frobnicate files - development files
 Foo frobnicates files.
 .
 This package holds the headers.

Package: old-foo
Description-md5: c3
Description-en: transitional package
 This package moves you to libfoo1.

Package: old-bar
Description-md5: d4
Description-en: transitional package
 This package moves you to bar.

Package: bar
Description-md5: e5
Description-en: bar the baz
 Bar bars bazzes.
"""
TRANSLATION_DE = """Package: libfoo1
Description-md5: a1
Description-de: Bibliothek zum Frobnizieren von Dateien
 Foo frobniziert Dateien.

Package: libfoo-dev
Description-md5: b2
Description-de: Bibliothek zum Frobnizieren von Dateien - Entwicklungsdateien
 Foo frobniziert Dateien.
 .
 Dieses Paket enthält die Header.

Package: old-foo
Description-md5: c3
Description-de: Übergangspaket
 Dieses Paket führt Sie zu libfoo1.

Package: old-bar
Description-md5: d4
Description-de: Übergangspaket
 Dieses Paket führt Sie zu bar.

Package: bar
Description-md5: 99
Description-de: die alte Übersetzung einer früheren Beschreibung
 Veraltet.

Package: gone
Description-md5: f6
Description-de: nicht mehr im Archiv
 Veraltet.
"""
PACKAGES = """Package: libfoo1
Source: foo (1.0-1)

Package: libfoo-dev
Source: foo

Package: old-foo
Source: foo

Package: old-bar
Source: bar
"""
SYNOPSES = [
    ("library to frobnicate files", "Bibliothek zum Frobnizieren von Dateien"),
    ("library to frobnicate files - development files",
     "Bibliothek zum Frobnizieren von Dateien - Entwicklungsdateien"),
    ("transitional package", "Übergangspaket"),
]  # fmt: skip


def test_debian_en_de_pairs_by_md5_keeps_a_pair_once_and_groups_by_source_package():
    from rnnkit.data.named.debian import long_description
    from rnnkit.data.named.debian_en_de import translation_pairs

    # bar's German entry translates an older English text (another md5), gone's has no English
    # one: both left out; old-bar's synopsis pair is old-foo's again: kept once
    pairs, groups = translation_pairs(TRANSLATION_EN, TRANSLATION_DE, PACKAGES)
    assert pairs == SYNOPSES and groups == ["foo", "foo", "foo"]
    pairs, groups = translation_pairs(TRANSLATION_EN, TRANSLATION_DE, PACKAGES, long_description)
    assert pairs[1] == ("Foo frobnicates files. This package holds the headers.",
                        "Foo frobniziert Dateien. Dieses Paket enthält die Header.")  # fmt: skip
    assert len(pairs) == 4 and groups == ["foo", "foo", "foo", "bar"]


@pytest.mark.skipif(not Path("/usr/lib/apt/apt-helper").exists(), reason="reads with apt-helper")
def test_translate_reads_debian_en_de_from_the_cached_indexes_both_ways(tmp_path, monkeypatch):
    from rnnkit.data.named import debian

    lists = tmp_path / "debian-lists-de"
    lists.mkdir()
    prefix = "deb.debian.org_debian_dists_bookworm_main_"
    for name, text in (("i18n_Translation-en", TRANSLATION_EN),
                       ("i18n_Translation-de", TRANSLATION_DE),
                       ("binary-amd64_Packages", PACKAGES)):  # fmt: skip
        (lists / (prefix + name)).write_text(text)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(debian, "_run_download", lambda *a, **k: pytest.fail("fetched again"))
    forward = TranslateTask(TranslateData(dataset="debian-en-de"), Seq2SeqConfig()).load()
    assert forward == (SYNOPSES, ["foo"] * 3, "debian-en-de", 0)
    back = TranslateTask(TranslateData(dataset="debian-en-de", reverse=True), Seq2SeqConfig())
    assert back.load()[0] == [(de, en) for en, de in SYNOPSES]
    pairs = TranslateTask(TranslateData(dataset="debian-en-de-long"), Seq2SeqConfig()).load()[0]
    assert pairs[0] == ("Foo frobnicates files.", "Foo frobniziert Dateien.")


def test_debian_en_de_fetches_both_languages_into_a_folder_of_its_own(tmp_path, monkeypatch):
    import shutil
    import subprocess

    from rnnkit.data.named import debian, fetch

    calls = []

    def unreachable(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 100, "", "E: Could not resolve 'deb.debian.org'")

    # summarize's English-only folder does not hold German: no use to debian-en-de
    english = tmp_path / "debian-lists"
    english.mkdir()
    (english / "x_dists_bookworm_main_i18n_Translation-en").write_text(TRANSLATION_EN)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(debian, "APT_HELPER", tmp_path)  # any path that exists
    monkeypatch.setattr(fetch.subprocess, "run", unreachable)
    with pytest.raises(RnnkitError, match="could not fetch Debian's package descriptions in "
                                          "en, de .*registry reachable"):  # fmt: skip
        named.get("debian-en-de").load()
    (cmd,) = calls
    assert "Acquire::Languages=en,de" in cmd
    assert f"Dir::State::Lists={tmp_path / 'debian-lists-de'}" in cmd
    assert debian.lists_dir() == english  # debian-synopsis's folder, untouched


# -- decoding: unknown-word replacement --------------------------------------------------------


def word_task(pairs) -> TranslateTask:
    task = TranslateTask(TranslateData(tokens="word"), Seq2SeqConfig())
    from rnnkit.tasks.text.base import fit_side

    task.src_tok = fit_side([s for s, _ in pairs], "word", 100)
    task.tgt_tok = fit_side([t for _, t in pairs], "word", 100)
    return task


def test_an_unknown_output_word_takes_the_source_word_attended_to(monkeypatch):
    task = word_task(toy_pairs(50))
    import rnnkit.tasks.writing as tp

    el = task.tgt_tok.index["el"]

    def fake_beam(model, src, lengths, bos, eos, max_len, beam, constraint=None):
        # "el <unk>" with the <unk> step attending to source position 1 ("Zorro")
        attn = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.0, 0.0, 1.0]])
        return [Hypothesis([el, UNK], -1.0, -1.0, attn)]

    monkeypatch.setattr(tp, "beam_search", fake_beam)
    model = torch.nn.Linear(1, 1)
    (row,) = task.decode(model, ["the Zorro ."])
    assert row["text"] == "el Zorro" and row["tokens"] == ["el", "Zorro"]


# -- the task end to end ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from rnnkit.cli.main import main

    d = tmp_path_factory.mktemp("translate")
    write_pairs(d / "train.tsv", 300)
    write_pairs(d / "new.tsv", 20, seed=3)
    out = d / "run"
    argv = ["train", "translate", "--data", d / "train.tsv", "--tokens", "word", "--val", "0.1",
            "--test", "0.1", "--hidden-size", "32", "--embed-dim", "16", "--max-steps", "60",
            "--eval-every", "30", "--lr", "0.01", "--out", out, "--quiet", "--json"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    return d, out


def test_translate_run_writes_figures_baselines_and_plots(toy_run):
    d, out = toy_run
    r = json.loads((out / "results.json").read_text())
    assert r["task"] == "translate" and r["split"]["test"] == 30
    assert set(r["baselines"]) == {"copy", "ibm1"}
    for fig in (r["test"], r["greedy"], *r["baselines"].values()):
        assert 0 <= fig["bleu"] <= 100 and 0 <= fig["chrf"] <= 100
    # the toy language is word-by-word with a fixed lexicon: Model 1 gets most words right
    assert r["baselines"]["ibm1"]["chrf"] > r["baselines"]["copy"]["chrf"]
    assert (out / "bleu_curve.png").stat().st_size > 0 and (out / "attention.png").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["copy"] is True  # translate copies by default
    assert any(
        "val_bleu" in json.loads(x) for x in (out / "metrics.jsonl").read_text().split("\n") if x
    )


def test_translate_command_and_predict_agree(toy_run, capsys, tmp_path):
    d, out = toy_run
    code, text, err = cli(capsys, "translate", out, "the big cat sees a small dog.", "--json")
    assert code == 0, err
    (row,) = json.loads(text)
    assert row["input"] == "the big cat sees a small dog." and row["output"]
    assert len(row["attention"]) == len(row["output_tokens"]) + 1  # one row per token and EOS
    code, text2, _ = cli(capsys, "predict", out, "the big cat sees a small dog.", "--json")
    assert json.loads(text2)[0]["output"] == row["output"]
    png = tmp_path / "a.png"
    code, _, err = cli(capsys, "translate", out, "the cat.", "--beam", "1", "--attention", png)
    assert code == 0 and png.stat().st_size > 0, err
    code, text, err = cli(capsys, "evaluate", out, "--data", d / "new.tsv", "--json")
    assert code == 0, err
    assert json.loads(text)["pairs"] == 20
    forward = json.loads(text)["bleu"]
    code, text, err = cli(capsys, "evaluate", out, "--data", d / "new.tsv", "--reverse", "--json")
    assert code == 0, err  # a flag of the new file: its pairs read the other way
    assert json.loads(text)["pairs"] == 20 and json.loads(text)["bleu"] != forward


def test_predict_takes_the_decoding_options_the_translate_command_takes(toy_run, capsys):
    from rnnkit.runs.driver import load_run

    _, out = toy_run
    text = "the big cat sees a small dog."
    code, alias, err = cli(capsys, "translate", out, text, "--beam", "1", "--json")
    assert code == 0, err
    code, predicted, err = cli(capsys, "predict", out, text, "--beam", "1", "--json")
    assert code == 0, err
    assert json.loads(predicted) == json.loads(alias)  # one path: the same rows, all of them
    code, before, err = cli(capsys, "predict", out, "--beam", "1", text, "--json")
    assert code == 0 and before == predicted, err  # the flags may come before the inputs
    run = load_run(out)
    assert json.loads(predicted) == json.loads(json.dumps(run.predict([text], beam=1)))
    # sampling: the same seed draws the same output, through the command and the library
    sampled = ["--temperature", "1.5", "--top-p", "0.95", "--seed", "7", "--json"]
    code, first, err = cli(capsys, "predict", out, text, "a small bird.", *sampled)
    assert code == 0, err
    code, again, _ = cli(capsys, "predict", out, text, "a small bird.", *sampled)
    assert again == first
    code, alias, _ = cli(capsys, "translate", out, text, "a small bird.", *sampled)
    assert json.loads(alias) == json.loads(first)
    library = run.predict([text, "a small bird."], temperature=1.5, top_p=0.95, seed=7)
    assert json.loads(first) == json.loads(json.dumps(library))
    assert_user_error(cli(capsys, "predict", out, text, "--beam", "0"), "--beam", "out of range")


def test_translate_bad_input_is_one_line(toy_run, capsys, tmp_path):
    d, out = toy_run
    assert_user_error(cli(capsys, "translate", out, "the " * 10000), "at most 1000")
    assert_user_error(cli(capsys, "translate", out, "@@@ ###"), "vocabulary")
    assert_user_error(cli(capsys, "translate", out), "give texts")
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert_user_error(cli(capsys, "train", "translate", "--data", empty), "empty")
    assert_user_error(cli(capsys, "train", "translate", "--tgt-file", empty), "give data too")
    assert_user_error(cli(capsys, "train", "translate", "--data", d / "train.tsv",
                          "--dataset", "bible-en-es"), "not both")  # fmt: skip
    assert_user_error(cli(capsys, "train", "translate", "--data", d / "train.tsv",
                          "--src-col", "nope"), "no src column")  # fmt: skip


def test_a_10000_word_training_pair_is_left_out_and_counted(tmp_path):
    from rnnkit.runs.driver import fit

    pairs = toy_pairs(60)
    pairs[5] = ("the " * 10000, "el " * 10000)
    p = tmp_path / "p.tsv"
    p.write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in pairs))
    r = fit(
        "translate",
        data={"data": str(p), "tokens": "word", "max_tokens": 50},
        model={"hidden_size": 8, "embed_dim": 8},
        train={"max_steps": 2, "eval_every": 2, "progress": False},
        out=tmp_path / "run",
    )
    assert r["too_long_left_out"] == 1


def test_reverse_swaps_the_direction(tmp_path):
    write_pairs(tmp_path / "p.tsv", 40)
    task = TranslateTask(TranslateData(data=str(tmp_path / "p.tsv"), reverse=True,
                                       tokens="word"), Seq2SeqConfig())  # fmt: skip
    splits = task.prepare()
    src, tgt = splits.train[0]
    assert any(w in src.split() for w in ("el", "un")) and "the" not in src.split()
    assert math.isclose(len(splits.train) + len(splits.val) + len(splits.test), 40)


def test_tied_embeddings_train_save_and_load_tied(tmp_path, capsys):
    """The decoder's output layer shares its embedding's storage, which safetensors refuses to
    write: the first checkpoint of a --tie-embeddings run used to end training with a traceback."""
    from rnnkit.cli.main import main
    from rnnkit.runs.driver import load_run

    write_pairs(tmp_path / "train.tsv", 60)
    out = tmp_path / "run"
    argv = ["train", "translate", "--data", tmp_path / "train.tsv", "--tokens", "word",
            "--val", "0.1", "--test", "0.1", "--hidden-size", "16", "--embed-dim", "8",
            "--tie-embeddings", "--max-steps", "4", "--eval-every", "2",
            "--out", out, "--quiet"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    model = load_run(out).model
    decoder = model.decoder
    assert decoder.out.weight.data_ptr() == decoder.embed.weight.data_ptr()  # still one parameter
    capsys.readouterr()
    code, text, err = cli(capsys, "translate", out, "the big cat.", "--json")
    assert code == 0, err
    assert json.loads(text)[0]["output"]
