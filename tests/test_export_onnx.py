"""ONNX export: the torch.nn stand-ins equal rnnkit's layers; every exportable model's graphs,
run by onnxruntime on a batch and length other than the traced ones, equal the model within
1e-4 and use ONNX's own LSTM/GRU/RNN operators; ``rnnkit export`` on trained lm, classify,
translate, tag and forecast runs, greedy translation through onnxruntime, and the one-line
refusals."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

import rnnkit
from rnnkit.data import read_text
from rnnkit.errors import RnnkitError
from rnnkit.models import exportable
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.memory import MemoryModel
from rnnkit.models.recurrent import encode_packed
from rnnkit.models.seq2seq import BOS, EOS, Seq2Seq, Seq2SeqConfig
from rnnkit.models.tagger import SequenceTagger, TaggerConfig
from rnnkit.models.torch_layers import JordanAsElman, LengthAwareEncoder, torch_twin
from rnnkit.runs.export import TOLERANCE, _to_onnx, check_graph
from tests.test_classify import write_reviews
from tests.test_cli_lm import assert_user_error, cli
from tests.test_forecast import write_series
from tests.test_tag import write_conll
from tests.test_translate import write_pairs

ONNX_OPS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN", "jordan": "RNN"}
LAYERS = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "rnn": rnnkit.RNN}


def seeded(seed: int = 0) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


# -- the torch.nn stand-ins, against rnnkit's layers --------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_torch_twin_computes_what_the_rnnkit_layer_does(cell):
    seeded()
    layer = LAYERS[cell](6, 8, 2, batch_first=True, bidirectional=True).eval()
    twin = torch_twin(layer)
    assert type(twin) in (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN)
    x = torch.randn(3, 5, 6)
    with torch.no_grad():
        (y, s), (y2, s2) = layer(x), twin(x)
    torch.testing.assert_close(y2, y, atol=2e-6, rtol=1e-5)
    for a, b in zip(s2 if cell == "lstm" else [s2], s if cell == "lstm" else [s], strict=True):
        torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_length_aware_encoder_equals_packing(cell, bidirectional):
    seeded(1)
    layer = LAYERS[cell](6, 8, 2, batch_first=True, bidirectional=bidirectional).eval()
    x, lengths = torch.randn(4, 7, 6), torch.tensor([7, 3, 1, 5])
    with torch.no_grad():
        out, h_n = encode_packed(layer, x, lengths)
        got, last = LengthAwareEncoder(layer)(x, lengths)
    D = 2 if bidirectional else 1
    torch.testing.assert_close(got, out, atol=2e-6, rtol=1e-5)  # zero past each length too
    torch.testing.assert_close(last, torch.cat(list(h_n[-D:]), -1), atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_a_jordan_network_is_an_elman_network_with_a_first_step_fix(nonlinearity):
    """JordanAsElman (one nn.RNN per layer) against rnnkit's JordanRNN, float64, from zero and
    from a given initial output."""
    seeded(2)
    j = rnnkit.JordanRNN(5, 7, 7, 3, nonlinearity=nonlinearity, batch_first=True).double()
    x, o0 = torch.randn(4, 6, 5, dtype=torch.float64), torch.randn(3, 4, 7, dtype=torch.float64)
    elman = JordanAsElman(j)
    with torch.no_grad():
        for start in (None, o0):
            (y, o_n), (y2, o_n2) = j(x, start), elman(x, start)
            torch.testing.assert_close(y2, y, atol=1e-12, rtol=1e-10)
            torch.testing.assert_close(o_n2, o_n, atol=1e-12, rtol=1e-10)


# -- every exportable model through onnxruntime -------------------------------------------


def assert_exports(model: torch.nn.Module, op: str) -> list[dict]:
    """Each graph of ``model`` exported, checked by onnxruntime within TOLERANCE, and holding
    ONNX's own recurrent operator ``op`` and no loop."""
    model.eval()
    checks = []
    for g in exportable.export_graphs(model):
        with torch.no_grad():
            data = _to_onnx(g, g.example(2, 5, seeded(3)))
        check = check_graph(data, g, seed=4)
        assert max(check["max_abs_diff"].values()) <= TOLERANCE, (g.name, check["max_abs_diff"])
        assert op in check["operators"], (g.name, check["operators"])
        assert "Loop" not in check["operators"] and "Scan" not in check["operators"]
        checks.append(check)
    return checks


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "jordan"])
def test_language_model_exports(cell):
    seeded(5)
    c = LanguageModelConfig(vocab_size=30, embed_dim=8, hidden_size=12, num_layers=2, cell=cell)
    assert_exports(LanguageModel(c), ONNX_OPS[cell])


def test_one_hot_and_tied_language_models_export():
    seeded(6)
    one_hot = LanguageModelConfig(vocab_size=20, one_hot=True, hidden_size=8, num_layers=1)
    assert_exports(LanguageModel(one_hot), "LSTM")
    tied = LanguageModelConfig(vocab_size=20, embed_dim=8, hidden_size=8, tie_weights=True,
                               cell="gru")  # fmt: skip
    assert_exports(LanguageModel(tied), "GRU")


@pytest.mark.parametrize(
    "settings",
    [
        dict(cell="lstm", pool="last", bidirectional=True, ngram_buckets=50),
        dict(cell="lstm", pool="max", bidirectional=True, ngram_buckets=50, ngram_bag=True),
        dict(cell="gru", pool="mean", bidirectional=True),
        dict(cell="rnn", pool="max", num_layers=2),
        dict(cell="lstm", pool="last", num_layers=2, bidirectional=True, dropout=0.3),
    ],
)
def test_classifier_exports(settings):
    seeded(7)
    c = ClassifierConfig(vocab_size=40, num_classes=3, embed_dim=8, hidden_size=10, **settings)
    assert_exports(SequenceClassifier(c), ONNX_OPS[settings["cell"]])


def test_feature_sequence_classifier_exports():
    seeded(8)
    c = ClassifierConfig(input_size=4, num_classes=5, hidden_size=10, pool="mean")
    assert_exports(SequenceClassifier(c), "LSTM")


@pytest.mark.parametrize(
    "settings",
    [
        dict(cell="lstm", dropout=0.3, num_layers=2),  # dropout: off in the graph and check
        dict(cell="gru", attention="additive", input_feed=True, num_layers=2),
        dict(cell="rnn", attention="none", bidirectional=False),
        dict(cell="lstm", copy=True, input_feed=True, tie_embeddings=True, embed_dim=10),
    ],
)
def test_encoder_decoder_exports(settings):
    seeded(9)
    kw = dict(src_vocab_size=30, tgt_vocab_size=25, embed_dim=8, hidden_size=10) | settings
    model = Seq2Seq(Seq2SeqConfig(**kw))
    if kw.get("copy"):
        model.set_copy_map(torch.randint(0, 25, (30,)))
    names = [c["outputs"] for c in assert_exports(model, ONNX_OPS[kw["cell"]])]
    assert "logits" in names[1]


@pytest.mark.parametrize("cell,bidirectional", [("lstm", True), ("gru", False)])
def test_tagger_exports(cell, bidirectional):
    seeded(10)
    c = TaggerConfig(vocab_size=30, num_tags=5, embed_dim=8, shape_dim=4, hidden_size=10,
                     cell=cell, bidirectional=bidirectional, num_layers=2)  # fmt: skip
    assert_exports(SequenceTagger(c), ONNX_OPS[cell])


@pytest.mark.parametrize("cell,base", [("lstm", "naive"), ("jordan", "seasonal")])
def test_forecaster_exports_in_the_series_units(cell, base):
    seeded(11)
    c = ForecasterConfig(cell=cell, hidden_size=10, window=12, horizon=4, base=base, period=4,
                         mean=50.0, std=8.0)  # fmt: skip
    model = Forecaster(c)
    torch.nn.init.normal_(model.head.weight, std=0.3)  # zero at start: the base alone
    assert_exports(model, ONNX_OPS[cell])


def test_a_model_without_an_export_is_refused_by_name():
    with pytest.raises(RnnkitError, match="MemoryModel cannot be exported"):
        exportable.export_graphs(MemoryModel("adding", "lstm", 8))


# -- rnnkit export on trained runs -------------------------------------------------------


TRAIN = ["--quiet", "--json", "--eval-every", "10", "--max-steps", "10"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from rnnkit.cli.main import main

    d = tmp_path_factory.mktemp("export")
    (d / "text.txt").write_text(read_text(None)[:6000])
    write_reviews(d / "reviews.csv", n=80)
    write_pairs(d / "pairs.tsv", 80)
    write_conll(d / "ner.conll", n=60)
    write_series(d / "series.csv", n=200)
    argvs = {
        "lm": ["train", "lm", "--data", d / "text.txt", "--hidden-size", "16", "--embed-dim",
               "8", "--seq-len", "12", "--batch-size", "8", "--cell", "gru"],
        "classify": ["train", "classify", "--data", d / "reviews.csv", "--hidden", "8",
                     "--embed", "8", "--bidirectional"],
        "translate": ["train", "translate", "--data", d / "pairs.tsv", "--tokens", "word",
                      "--hidden-size", "12", "--embed-dim", "8", "--input-feed"],
        "tag": ["train", "tag", "--data", d / "ner.conll", "--hidden", "8", "--embed", "8"],
        "forecast": ["train", "forecast", "--data", d / "series.csv", "--column", "value",
                     "--horizon", "3", "--window", "12", "--hidden", "8", "--cell", "gru"],
    }  # fmt: skip
    for name, argv in argvs.items():
        assert main([str(a) for a in [*argv, "--out", d / name, *TRAIN]]) == 0, name
    return d


@pytest.mark.parametrize(
    "task,graphs,op",
    [("lm", ["model"], "GRU"), ("classify", ["model"], "LSTM"),
     ("translate", ["encoder", "decoder"], "LSTM"), ("tag", ["model"], "LSTM"),
     ("forecast", ["model"], "GRU")],
)  # fmt: skip
def test_export_writes_graphs_that_onnxruntime_runs(runs, capsys, task, graphs, op):
    out = runs / f"{task}-onnx"
    code, text, err = cli(capsys, "export", runs / task, "--format", "onnx", "--out", out)
    assert code == 0, err
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["task"] == task and sorted(manifest["graphs"]) == sorted(graphs)
    for name in graphs:
        g = manifest["graphs"][name]
        assert (out / g["file"]).stat().st_size > 1000 and f"{name}.onnx" in text
        assert max(g["max_abs_diff"].values()) <= 1e-4
        assert op in g["operators"]
    assert all(v["tokens"] for v in manifest["vocabularies"].values())
    assert bool(manifest["vocabularies"]) == (task != "forecast")
    if task == "classify":
        assert manifest["labels"] == ["neg", "pos"]
        assert (out / "labels.json").is_file() and (out / "tokenizer.json").is_file()
    if task == "tag":
        assert "O" in manifest["tags"]
    if task == "forecast":
        assert manifest["graphs"]["model"]["horizon"] == 3


def test_export_never_replaces_files_without_force(runs, capsys):
    out = runs / "lm-again"
    assert cli(capsys, "export", runs / "lm", "--out", out)[0] == 0
    before = (out / "model.onnx").stat().st_mtime_ns
    assert_user_error(cli(capsys, "export", runs / "lm", "--out", out), "exists", "--force")
    assert (out / "model.onnx").stat().st_mtime_ns == before
    assert cli(capsys, "export", runs / "lm", "--out", out, "--force")[0] == 0


def test_export_refusals_are_one_line(runs, capsys, monkeypatch, tmp_path):
    assert_user_error(cli(capsys, "export", tmp_path / "nowhere", "--out", tmp_path / "o"))
    assert_user_error(cli(capsys, "export", runs / "lm", "--format", "tflite"), "tflite")
    assert_user_error(cli(capsys, "export", runs / "lm", "--out", tmp_path / "lm.onnx"), "folder")
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # the extra missing
    assert_user_error(cli(capsys, "export", runs / "lm", "--out", tmp_path / "o"),
                      "pip install 'rnnkit[onnx]'")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_greedy_translation_through_onnxruntime_matches_rnnkit(runs, capsys):
    """The loop a user writes (docs/export.md): encoder once, decoder step by step from <s>,
    each step's new_* fed back; the same tokens as rnnkit's own greedy decoding."""
    from rnnkit.generate.search import greedy
    from rnnkit.runs.driver import load_run

    out = runs / "translate-greedy"
    assert cli(capsys, "export", runs / "translate", "--out", out)[0] == 0
    manifest = json.loads((out / "export.json").read_text())
    dec_info = manifest["graphs"]["decoder"]
    encoder = ort.InferenceSession(str(out / "encoder.onnx"))
    decoder = ort.InferenceSession(str(out / "decoder.onnx"))
    index = {
        w: i for i, w in enumerate(manifest["vocabularies"]["source_tokenizer.json"]["tokens"])
    }
    rows = [[index.get(w, 0) for w in t.split()] for t in ["the big cat sees a dog .", "a fish ."]]
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    src = np.full((2, max(lengths)), dec_info["pad"], dtype=np.int64)
    for r, ids in enumerate(rows):
        src[r, : len(ids)] = ids
    names = [o.name for o in encoder.get_outputs()]
    state = dict(zip(names, encoder.run(None, {"source": src, "lengths": lengths}), strict=True))
    tokens = np.full(2, dec_info["bos"], dtype=np.int64)
    steps = []
    for _ in range(12):
        outs = dict(zip([o.name for o in decoder.get_outputs()],
                        decoder.run(None, {"tokens": tokens, **state}), strict=True))  # fmt: skip
        tokens = outs["logits"].argmax(-1)
        steps.append(tokens)
        state.update({dec_info["carried"][k]: v for k, v in outs.items() if k.startswith("new_")})
    onnx_ids = np.stack(steps, 1)

    model = load_run(runs / "translate").model
    hyps = greedy(model, torch.from_numpy(src), torch.from_numpy(lengths), BOS, EOS, 12)
    for row, h in zip(onnx_ids, hyps, strict=True):
        ids = list(row)
        ids = ids[: ids.index(EOS)] if EOS in ids else ids
        assert ids == list(h.tokens)
