"""torch.export of every layer and of every task's model, for inference: the exported program
run on new inputs gives eager mode's outputs (float32, 2e-5), and keeps rnnkit's operators
(``torch.ops.rnnkit.*``) as single nodes."""

from __future__ import annotations

import pytest
import torch
from torch.export import Dim
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnkit

T, B, I, H, P, O = 5, 3, 4, 6, 2, 3
TOL = dict(rtol=2e-5, atol=2e-5)


def _flat(out):
    if isinstance(out, PackedSequence):
        return [out.data]
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in _flat(o)]


def _assert_round_trip(module, args, new_args, kwargs=None):
    """Export on ``args``; the program on ``new_args`` equals the module on ``new_args``."""
    module.eval()
    with torch.no_grad():
        program = torch.export.export(module, args, kwargs or {})
        want = _flat(module(*new_args))
        got = _flat(program.module()(*new_args))
    for a, b in zip(want, got, strict=True):
        torch.testing.assert_close(b, a, **TOL)
    return program


def _rnnkit_ops(program) -> set[str]:
    return {
        str(node.target)
        for node in program.graph.nodes
        if node.op == "call_function" and str(node.target).startswith("rnnkit.")
    }


LAYERS = {
    "rnn": lambda: rnnkit.RNN(I, H, 2, batch_first=True, bidirectional=True),
    "lstm": lambda: rnnkit.LSTM(I, H, 2, batch_first=True),
    "lstm_proj": lambda: rnnkit.LSTM(I, H, proj_size=P, batch_first=True, bidirectional=True),
    "gru": lambda: rnnkit.GRU(I, H, 2, batch_first=True),
    "jordan": lambda: rnnkit.JordanRNN(I, H, O, 2, batch_first=True),
    "rnn_cell": lambda: rnnkit.RNNCell(I, H),
    "lstm_cell": lambda: rnnkit.LSTMCell(I, H),
    "gru_cell": lambda: rnnkit.GRUCell(I, H),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_exports(name):
    torch.manual_seed(0)
    module = LAYERS[name]()
    shape = (B, I) if name.endswith("cell") else (B, T, I)
    program = _assert_round_trip(module, (torch.randn(shape),), (torch.randn(shape),))
    assert _rnnkit_ops(program), "the recurrence should stay one rnnkit operator"


@pytest.mark.parametrize("name", ["lstm", "gru", "jordan"])
def test_packed_input_exports(name):
    torch.manual_seed(1)
    module = LAYERS[name]()

    def packed(seed):
        x = torch.randn(B, T, I, generator=torch.Generator().manual_seed(seed))
        return pack_padded_sequence(x, torch.tensor([2, 5, 4]), True, enforce_sorted=False)

    _assert_round_trip(module, (packed(0),), (packed(1),))


def test_layer_exports_with_dynamic_batch_and_length():
    torch.manual_seed(2)
    module = LAYERS["lstm"]().eval()
    batch, steps = Dim("batch", min=2, max=64), Dim("steps", min=2, max=512)
    with torch.no_grad():
        program = torch.export.export(
            module, (torch.randn(B, T, I),), dynamic_shapes=({0: batch, 1: steps},)
        )
        x = torch.randn(7, 11, I)
        for a, b in zip(_flat(module(x)), _flat(program.module()(x)), strict=True):
            torch.testing.assert_close(b, a, **TOL)


# ---------------------------------------------------------------------------------------------
# Every task's model


def _ids(*shape, high=11, seed=0):
    return torch.randint(4, high, shape, generator=torch.Generator().manual_seed(seed))


def _lengths(seed):
    return [torch.tensor([5, 3, 4]), torch.tensor([4, 5, 2])][seed]


def _lm(cell="lstm"):
    from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

    config = LanguageModelConfig(cell=cell, vocab_size=11, hidden_size=8, embed_dim=4)
    return LanguageModel(config), lambda s: (_ids(B, T, seed=s),)


def _tune():
    from rnnkit.models.tune_model import TuneModel, TuneModelConfig

    model = TuneModel(TuneModelConfig(vocab_size=11, hidden_size=8, embed_dim=4, position_dim=3))
    return model, lambda s: (_ids(B, T, seed=s), _ids(B, T, high=8, seed=s + 5) - 4)


def _classifier():
    from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier

    config = ClassifierConfig(vocab_size=11, num_classes=3, embed_dim=4, hidden_size=8)
    return SequenceClassifier(config), lambda s: (_ids(B, T, seed=s), _lengths(s))


def _classifier_ngrams():
    """Words plus their hashed character n-grams (``--ngram-buckets``): (index (B, T) into a
    table (U, K) of bucket ids, 0 the padding)."""
    from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier

    config = ClassifierConfig(
        vocab_size=11, num_classes=3, embed_dim=4, hidden_size=8, ngram_buckets=9
    )
    table = lambda s: _ids(6, 3, high=10, seed=s + 3) - 4  # noqa: E731  (U, K) in [0, 6)
    return SequenceClassifier(config), lambda s: (
        _ids(B, T, seed=s),
        _lengths(s),
        (_ids(B, T, high=10, seed=s + 9) - 4, table(s)),
    )


def _tagger():
    from rnnkit.models.tagger import SequenceTagger, TaggerConfig

    config = TaggerConfig(vocab_size=11, num_tags=3, embed_dim=4, shape_dim=2, hidden_size=8)
    return SequenceTagger(config), lambda s: (
        _ids(B, T, seed=s),
        _ids(B, T, high=6, seed=s) - 4,
        _lengths(s),
    )


def _forecaster():
    from rnnkit.models.forecaster import Forecaster, ForecasterConfig

    model = Forecaster(ForecasterConfig(horizon=2, window=6, hidden_size=8))
    return model, lambda s: (torch.randn(B, 6, generator=torch.Generator().manual_seed(s)),)


def _esrnn():
    """A panel of series (``rnnkit train forecast`` on several): y (N, T) positive, each
    series starting at ``start`` (N,), ``index`` (N,) its row in the per-series parameters.
    The heads start at zero (the smoothing's own forecast): drawn here so the networks
    count."""
    from rnnkit.models.esrnn import ESRNN
    from rnnkit.models.forecaster import ForecasterConfig

    config = ForecasterConfig(
        kind="esrnn", series=3, offsets=[0.0] * 3, period=2, horizon=2, window=4,
        hidden_size=8, members=2,
    )  # fmt: skip
    model = ESRNN(config)
    with torch.no_grad():
        for p in (model.alpha, model.gamma, *model.heads.parameters()):
            p.normal_(0, 0.5)

    def inputs(s):
        y = 1 + torch.rand(B, 10, generator=torch.Generator().manual_seed(s))  # (N, T)
        start = torch.tensor([[0, 3, 1], [2, 0, 4]][s])
        return y, start, torch.tensor([[0, 1, 2], [2, 0, 1]][s])

    return model, inputs


def _seq2seq(**options):
    from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

    config = Seq2SeqConfig(
        src_vocab_size=11, tgt_vocab_size=11, embed_dim=4, hidden_size=8, **options
    )
    model = Seq2Seq(config)
    if config.copy:  # source id -> target id, as the text tasks set it
        model.set_copy_map(torch.arange(11).roll(3))
    return model, lambda s: (_ids(B, T, seed=s), _lengths(s), _ids(B, 4, seed=s + 7))


def _captioner():
    from rnnkit.models.captioner import Captioner, CaptionerConfig

    config = CaptionerConfig(
        vocab_size=11, image_size=16, width=4, stages=2, embed_dim=4, hidden_size=8
    )
    images = lambda s: torch.randn(B, 3, 16, 16, generator=torch.Generator().manual_seed(s))  # noqa: E731
    return Captioner(config), lambda s: (images(s), None, _ids(B, 4, seed=s))


def _acoustic():
    from rnnkit.models.acoustic import AcousticConfig, AcousticModel

    config = AcousticConfig(n_mels=5, vocab_size=6, hidden_size=8, num_layers=2)
    feats = lambda s: torch.randn(B, 12, 5, generator=torch.Generator().manual_seed(s))  # noqa: E731
    return AcousticModel(config), lambda s: (feats(s), torch.tensor([[12, 7, 9], [11, 12, 4]][s]))


def _memory():
    from rnnkit.models.memory import MemoryModel

    model = MemoryModel("adding", "lstm", 8)
    return model, lambda s: (torch.rand(B, T, 2, generator=torch.Generator().manual_seed(s)),)


def _memory_copy():
    from rnnkit.data.synthetic import output_size
    from rnnkit.models.memory import MemoryModel

    model = MemoryModel("copy", "jordan", 8)
    return model, lambda s: (_ids(B, T, high=output_size("copy"), seed=s) % output_size("copy"),)


MODELS = {  # every model the CLI trains: tasks (reorder is seq2seq), their options, cells
    "lm": _lm,
    "lm_gru": lambda: _lm("gru"),
    "lm_rnn": lambda: _lm("rnn"),
    "lm_jordan": lambda: _lm("jordan"),
    "tune": _tune,
    "classify": _classifier,
    "classify_ngrams": _classifier_ngrams,
    "tag": _tagger,
    "forecast": _forecaster,
    "forecast_panel": _esrnn,
    "seq2seq": _seq2seq,
    # translate, summarize, chat: copy attention; additive attention, a GRU, one direction
    "translate_copy": lambda: _seq2seq(copy=True, attention="additive", cell="gru"),
    "seq2seq_plain": lambda: _seq2seq(attention="none", bidirectional=False, cell="rnn"),
    "caption": _captioner,
    "speech": _acoustic,
    "memory": _memory,
    "memory_copy": _memory_copy,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_task_model_exports(name):
    torch.manual_seed(3)
    model, inputs = MODELS[name]()
    program = _assert_round_trip(model, inputs(0), inputs(1))
    assert _rnnkit_ops(program)
