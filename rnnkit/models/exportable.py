"""Export copies of the task models: tensors in, a tuple of tensors out, torch.nn's layers
inside (``rnnkit.models.torch_layers``), for exporters such as torch.onnx.

What each graph computes, and why:

- ``LanguageModel``: one graph ``model``, (tokens (B, T), the recurrent state) -> (logits
  (B, T, V), the state after step T). The state in and out lets a caller feed a prompt once
  and then one token per call to generate.
- ``SequenceClassifier``: one graph ``model``, (tokens (B, T) or features (B, T, F), lengths
  (B,) [, ngrams (B, T, K)]) -> (logits (B, C), probabilities (B, C)). ``ngrams`` holds each
  step's hashed character n-gram rows (``rnnkit.data.char_ngrams.bucket_ids``, 0-padded), the
  gathered form of the model's own (index, table) pair.
- ``SequenceTagger``: one graph ``model``, (tokens, shapes (B, T), lengths (B,)) -> (logits
  (B, T, K), probabilities (B, T, K)); steps past a row's length are padding.
- ``Forecaster``: one graph ``model``, the last ``window`` values of the series (B, W), in
  its own units -> quantile forecasts (B, horizon, Q) in the same units (the training part's
  scaling is inside the graph, so a caller feeds raw values).
- ``Seq2Seq`` (translate, summarize, chat, reorder): two graphs, ``encoder`` (source (B, S), lengths
  (B,)) -> the decoder's first state, and ``decoder``, one step: (previous tokens (B,), the
  state) -> (logits (B, V) (log-probabilities with copy attention), the next state[,
  attention (B, S)]). A step graph, not the teacher-forced one: greedy, sampled and beam
  decoding all run a step at a time, the source is encoded once, and input feeding (where
  each step waits for the last) needs no loop inside the graph.

Each ``Graph`` also computes its outputs through the run's own model (``reference``), which
is what an export is checked against, and makes example inputs of any batch and length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.decoder import DecodeState
from rnnkit.models.forecaster import SPREAD_FLOOR, Forecaster
from rnnkit.models.language_model import LanguageModel
from rnnkit.models.recurrent import step_mask
from rnnkit.models.seq2seq import BOS, EOS, PAD, Seq2Seq
from rnnkit.models.tagger import SHAPES, SequenceTagger
from rnnkit.models.torch_layers import LengthAwareEncoder, torch_twin


@dataclass
class Graph:
    """One exportable computation: ``module(*inputs) -> outputs``, named for the exported
    file's inputs and outputs; ``axes`` names the dynamic axes of each (batch, steps...)."""

    name: str
    module: nn.Module
    inputs: list[str]
    outputs: list[str]
    axes: dict[str, dict[int, str]]
    example: Callable[[int, int, torch.Generator], tuple[Tensor, ...]]
    reference: Callable[..., tuple[Tensor, ...]]
    notes: dict = field(default_factory=dict)


def _ids(vocab: int, batch: int, steps: int, gen: torch.Generator, low: int = 0) -> Tensor:
    return torch.randint(low, vocab, (batch, steps), generator=gen)  # (B, T)


def _lengths(batch: int, steps: int, gen: torch.Generator) -> Tensor:
    """(B,) lengths in 1..steps, the first row the longest (the padded length is used)."""
    lengths = torch.randint(1, steps + 1, (batch,), generator=gen)
    lengths[0] = steps
    return lengths


# -- language model ---------------------------------------------------------------------------


class _LMGraph(nn.Module):
    def __init__(self, model: LanguageModel):
        super().__init__()
        self.embedding, self.head = model.embedding, model.head
        self.vocab_size = model.config.vocab_size
        self.rnn = torch_twin(model.rnn)
        self.lstm = model.config.cell == "lstm"

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        if self.embedding is None:
            x = nn.functional.one_hot(tokens, self.vocab_size).float()  # (B, T, V)
        else:
            x = self.embedding(tokens)  # (B, T, E)
        y, new = self.rnn(x, state if self.lstm else state[0])  # (B, T, H)
        return (self.head(y), *(new if self.lstm else (new,)))  # (B, T, V), state


def lm_graph(model: LanguageModel) -> Graph:
    c = model.config
    states = ["h", "c"] if c.cell == "lstm" else ["h"]
    L, H, V = c.num_layers, c.hidden_size, c.vocab_size

    def example(batch: int, steps: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        state = tuple(torch.randn(L, batch, H, generator=gen) * 0.5 for _ in states)
        return (_ids(V, batch, steps, gen), *state)

    def reference(tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        logits, new = model(tokens, state if c.cell == "lstm" else state[0])
        return (logits, *(new if c.cell == "lstm" else (new,)))

    axes = {"tokens": {0: "batch", 1: "steps"}, "logits": {0: "batch", 1: "steps"}}
    for s in states:
        axes[s] = axes[f"new_{s}"] = {1: "batch"}
    return Graph("model", _LMGraph(model), ["tokens", *states],
                 ["logits", *(f"new_{s}" for s in states)], axes, example, reference,
                 {"state": {s: [L, "batch", H] for s in states}})  # fmt: skip


# -- classifier -------------------------------------------------------------------------------


class _ClassifierGraph(nn.Module):
    def __init__(self, model: SequenceClassifier):
        super().__init__()
        self.embed, self.head = model.embed, model.head
        self.ngrams = None if model.ngrams is None else model.ngrams.weight  # (buckets+1, E)
        self.encoder = LengthAwareEncoder(model.rnn)
        self.pool = model.config.pool
        self.bag = model.config.ngram_bag

    def forward(self, x: Tensor, lengths: Tensor, *ngrams: Tensor) -> tuple[Tensor, Tensor]:
        feats = x if self.embed is None else self.embed(x)  # (B, T, F)
        vectors = None
        if self.ngrams is not None:  # EmbeddingBag's mean, row 0 (padding) left out
            rows = ngrams[0]  # (B, T, K)
            real = (rows != 0).to(feats.dtype)[..., None]  # (B, T, K, 1)
            total = (self.ngrams[rows] * real).sum(2)  # (B, T, E)
            vectors = total / real.sum(2).clamp_min(1.0)  # (B, T, E), zero at padding
            feats = feats + vectors
        out, last = self.encoder(feats, lengths)  # (B, T, D*H), (B, D*H)
        if self.pool == "last":
            pooled = last
        elif self.pool == "mean":  # out is zero past each row's length
            pooled = out.sum(1) / lengths.to(out.dtype)[:, None]  # (B, D*H)
        else:
            mask = step_mask(lengths, out.shape[1])[..., None]  # (B, T, 1)
            pooled = out.masked_fill(~mask, float("-inf")).amax(1)  # (B, D*H)
        if self.bag:  # the text's mean n-gram vector beside the pooled encoder
            bag = vectors.sum(1) / lengths.clamp_min(1).to(vectors.dtype)[:, None]  # (B, E)
            pooled = torch.cat([pooled, bag], -1)
        logits = self.head(pooled)  # (B, C)
        return logits, logits.softmax(-1)


def classifier_graph(model: SequenceClassifier) -> Graph:
    c = model.config
    tokens = c.vocab_size > 0
    names = ["tokens" if tokens else "features", "lengths"]
    names += ["ngrams"] if c.ngram_buckets else []

    def example(batch: int, steps: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        lengths = _lengths(batch, steps, gen)
        if tokens:
            x = _ids(c.vocab_size, batch, steps, gen)
        else:
            x = torch.randn(batch, steps, c.input_size, generator=gen)  # (B, T, F)
        x = x.masked_fill(~step_mask(lengths, steps).view(batch, steps, *[1] * (x.dim() - 2)), 0)
        if not c.ngram_buckets:
            return x, lengths
        grams = torch.randint(0, c.ngram_buckets + 1, (batch, steps, 6), generator=gen)
        return x, lengths, grams  # (B, T, K): some rows 0, as padding

    def reference(x: Tensor, lengths: Tensor, *ngrams: Tensor) -> tuple[Tensor, Tensor]:
        pair = None
        if ngrams:  # the model's own form: each step its own table row (row 0: no n-grams)
            B, T, K = ngrams[0].shape
            table = torch.cat([ngrams[0].new_zeros(1, K), ngrams[0].reshape(B * T, K)])
            pair = (torch.arange(1, B * T + 1).view(B, T), table)
        logits = model(x, lengths, pair)
        return logits, logits.softmax(-1)

    axes = {names[0]: {0: "batch", 1: "steps"}, "lengths": {0: "batch"},
            "logits": {0: "batch"}, "probabilities": {0: "batch"}}  # fmt: skip
    if c.ngram_buckets:
        axes["ngrams"] = {0: "batch", 1: "steps", 2: "ngrams"}
    return Graph("model", _ClassifierGraph(model), names, ["logits", "probabilities"], axes,
                 example, reference)  # fmt: skip


# -- tagger -----------------------------------------------------------------------------------


class _TaggerGraph(nn.Module):
    def __init__(self, model: SequenceTagger):
        super().__init__()
        self.embed, self.shape, self.head = model.embed, model.shape, model.head
        self.encoder = LengthAwareEncoder(model.rnn)

    def forward(self, tokens: Tensor, shapes: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        e = torch.cat([self.embed(tokens), self.shape(shapes)], dim=-1)  # (B, T, E+S)
        out, _ = self.encoder(e, lengths)  # (B, T, D*H), zero past each row's length
        logits = self.head(out)  # (B, T, K)
        return logits, logits.softmax(-1)


def tagger_graph(model: SequenceTagger) -> Graph:
    c = model.config

    def example(batch: int, steps: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        lengths = _lengths(batch, steps, gen)
        shapes = _ids(len(SHAPES), batch, steps, gen)
        return _ids(c.vocab_size, batch, steps, gen), shapes, lengths

    def reference(tokens: Tensor, shapes: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        logits = model(tokens, shapes, lengths)
        return logits, logits.softmax(-1)

    steps = {0: "batch", 1: "steps"}
    axes = {"tokens": steps, "shapes": steps, "lengths": {0: "batch"}, "logits": steps,
            "probabilities": steps}  # fmt: skip
    notes = {"shapes": list(SHAPES), "shape_rule": "rnnkit.models.tagger.token_shape",
             "tokens": "ids of the lowercased words"}  # fmt: skip
    return Graph("model", _TaggerGraph(model), ["tokens", "shapes", "lengths"],
                 ["logits", "probabilities"], axes, example, reference, notes)  # fmt: skip


# -- forecaster -------------------------------------------------------------------------------


class _ForecasterGraph(nn.Module):
    def __init__(self, model: Forecaster):
        super().__init__()
        self.head, self.config = model.head, model.config
        self.rnn = torch_twin(model.rnn)
        self.register_buffer("seasonal_index", model.seasonal_index.clone(), persistent=False)

    def forward(self, series: Tensor) -> Tensor:
        c = self.config
        z = (series - c.mean) / c.std  # (B, W): the training part's scaling
        last = z[:, -1:]  # (B, 1)
        spread = z.std(dim=1, keepdim=True) + SPREAD_FLOOR  # (B, 1)
        out, _ = self.rnn(torch.stack([(z - last) / spread, z], dim=-1))  # (B, W, H)
        delta = self.head(out[:, -1]).view(-1, c.horizon, len(c.quantiles))  # (B, H, Q)
        base = z[:, self.seasonal_index] if c.base == "seasonal" else last.expand(-1, c.horizon)
        return (base[..., None] + spread[..., None] * delta) * c.std + c.mean  # (B, H, Q)


def forecaster_graph(model: Forecaster) -> Graph:
    c = model.config

    def example(batch: int, steps: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        walk = torch.randn(batch, c.window, generator=gen).cumsum(1)  # (B, W), a random walk
        return (c.mean + c.std * walk,)

    def reference(series: Tensor) -> tuple[Tensor]:
        return (model.unscale(model(model.scale(series))),)

    notes = {"window": c.window, "horizon": c.horizon, "quantiles": list(c.quantiles),
             "series": "the last window values, in the series' own units"}  # fmt: skip
    return Graph("model", _ForecasterGraph(model), ["series"], ["quantiles"],
                 {"series": {0: "batch"}, "quantiles": {0: "batch"}}, example, reference,
                 notes)  # fmt: skip


# -- encoder-decoder --------------------------------------------------------------------------


def _carried(model: Seq2Seq) -> list[str]:
    """The decoder state's tensors, by name: those a step changes first."""
    c, dec = model.config, model.decoder
    names = ["h", "c"] if dec.n_states == 2 else ["h"]
    names += ["feed"] if c.input_feed else []
    if dec.attention is not None:
        names += ["keys", "mask", "projected"]
    return names + (["copy_ids"] if c.copy else [])


def _flatten(st: DecodeState, names: list[str]) -> tuple[Tensor, ...]:
    h, c = st.state if isinstance(st.state, tuple) else (st.state, None)
    values = {"h": h, "c": c, "feed": st.feed, "keys": st.keys, "mask": st.mask,
              "projected": st.projected, "copy_ids": st.copy_ids}  # fmt: skip
    return tuple(values[n] for n in names)


def _unflatten(values: tuple[Tensor, ...], names: list[str], like: Seq2Seq) -> DecodeState:
    v = dict(zip(names, values, strict=True))
    state = (v["h"], v["c"]) if "c" in v else v["h"]
    h = v["h"]
    feed = v.get("feed", h.new_zeros(h.shape[1], like.decoder.feed_size))  # unread without it
    empty = h.new_zeros(h.shape[1], 0)
    return DecodeState(state, feed, v.get("keys", empty), v.get("mask", empty.bool()),
                       v.get("projected"), v.get("copy_ids"))  # fmt: skip


class _EncoderGraph(nn.Module):
    def __init__(self, model: Seq2Seq, names: list[str]):
        super().__init__()
        self.model, self.names = model, names  # its decoder's begin() runs as it is
        self.encoder = LengthAwareEncoder(model.encoder)

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        m = self.model
        keys, top = self.encoder(m.src_embed(src), lengths)  # (B, S, D*H), (B, D*H)
        mask = step_mask(lengths, src.shape[1])  # (B, S)
        copy_ids = m.copy_map[src] if m.config.copy else None  # (B, S)
        return _flatten(m.decoder.begin(top, keys, mask, copy_ids), self.names)


class _StepGraph(nn.Module):
    def __init__(self, model: Seq2Seq, names: list[str]):
        super().__init__()
        self.model, self.names = model, names
        self.rnn = torch_twin(model.decoder.rnn)

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        dec = self.model.decoder
        st = _unflatten(state, self.names, self.model)
        embedded = dec.embed(tokens)  # (B, E)
        x = torch.cat([embedded, st.feed], -1) if dec.input_feed else embedded  # (B, E[+A])
        y, new = self.rnn(x[:, None, :], st.state)  # (B, 1, H)
        feed, weights, gate_input = dec.attend(y[:, 0], embedded, st)  # (B, A)
        logits = dec.output(feed, weights, gate_input, st.copy_ids)  # (B, V)
        new = new if isinstance(new, tuple) else (new,)
        changed = (*new, feed) if dec.input_feed else new
        return (logits, *changed, *(() if weights is None else (weights,)))


def seq2seq_graphs(model: Seq2Seq) -> list[Graph]:
    c = model.config
    names = _carried(model)
    changed = names[: (2 if c.cell == "lstm" else 1) + int(c.input_feed)]
    attends = model.decoder.attention is not None
    batch, steps = {0: "batch"}, {0: "batch", 1: "source_steps"}
    layer_axes = {1: "batch"}

    def state_axes(name: str) -> dict[int, str]:
        return layer_axes if name in ("h", "c") else steps if name != "feed" else batch

    def encode_example(batch: int, steps: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        lengths = _lengths(batch, steps, gen)
        src = _ids(c.src_vocab_size, batch, steps, gen, low=EOS + 1)
        return src.masked_fill(~step_mask(lengths, steps), PAD), lengths

    def encode_reference(src: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        return _flatten(model.start(src, lengths), names)

    def step_example(batch: int, steps: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        state = encode_reference(*encode_example(batch, steps, gen))
        tokens = _ids(c.tgt_vocab_size, batch, 1, gen)[:, 0]  # (B,)
        tokens[0] = BOS
        return (tokens, *state)

    def step_reference(tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        logits, st, weights = model.step(tokens, _unflatten(state, names, model))
        flat = _flatten(st, changed)
        return (logits, *flat, *(() if weights is None else (weights,)))

    enc_axes = {"source": steps, "lengths": batch} | {n: state_axes(n) for n in names}
    outputs = ["logits", *(f"new_{n}" for n in changed)] + (["attention"] if attends else [])
    step_axes = {"tokens": batch, "logits": batch, "attention": steps}
    step_axes |= {n: state_axes(n) for n in names} | {f"new_{n}": state_axes(n) for n in changed}
    notes = {"carried": {f"new_{n}": n for n in changed}, "bos": BOS, "eos": EOS, "pad": PAD}
    return [
        Graph("encoder", _EncoderGraph(model, names), ["source", "lengths"], names, enc_axes,
              encode_example, encode_reference),
        Graph("decoder", _StepGraph(model, names), ["tokens", *names], outputs, step_axes,
              step_example, step_reference, notes),
    ]  # fmt: skip


def export_graphs(model: nn.Module) -> list[Graph]:
    """The graphs that make up ``model``'s export (see the module docstring), or a
    RnnkitError naming what cannot be exported. The graphs share ``model``'s modules and put
    it in eval mode with them: an exporter that restores the training flag it found restores
    eval, and dropout never reaches a reference."""
    graphs = None
    if isinstance(model, LanguageModel):
        graphs = [lm_graph(model)]
    elif isinstance(model, SequenceClassifier):
        graphs = [classifier_graph(model)]
    elif isinstance(model, Seq2Seq):
        graphs = seq2seq_graphs(model)
    elif isinstance(model, SequenceTagger):
        graphs = [tagger_graph(model)]
    elif isinstance(model, Forecaster):
        graphs = [forecaster_graph(model)]
    if graphs is not None:
        model.eval()
        for g in graphs:
            g.module.eval()
        return graphs
    raise RnnkitError(
        f"a {type(model).__name__} cannot be exported yet (exported: the models of lm, "
        "classify, tag, forecast, and the encoder-decoder of translate, summarize, chat and "
        "reorder)"
    )
