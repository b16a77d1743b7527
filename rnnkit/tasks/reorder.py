"""Word reordering: a sentence's words shuffled in, the sentence out (sequence to sequence),
beside the best orders under two n-gram models trained on the same split.

Sentences come from any text (default: the bundled Shakespeare; ``--dataset kjv`` the King
James Bible; ``--data FILE`` any UTF-8 text): stage directions in brackets are dropped, the text
is cut at ``.``, ``!`` and ``?``, words are lowercased (punctuation dropped), and sentences of
``min_words``..``max_words`` words are kept, each text once, before the split, so that no
sentence appears in two splits. Training sees a fresh shuffle of every sentence each time;
validation and test shuffles are fixed by ``split_seed``.

Decoding is restricted to the input's words (a ``BagConstraint``, ``rnnkit.generate``), so every
output is a permutation of the input; words outside the vocabulary keep their relative order.
It can add a Kneser-Ney word n-gram's log-probability, fitted on the training sentences, to the
network's at each step (shallow fusion, ``rnnkit.generate.fusion``): the weight and the beam
width are chosen on the validation split after training (exact match, then BLEU), kept in
results.json and used again by ``rnnkit predict``; the n-gram is saved with the run
(``ngram.json``: its counts). Baselines: the order an add-0.1 word bigram scores highest (the
bar) and the order the Kneser-Ney n-gram scores highest, each by beam search (64) over
permutations. Scores: exact match (the whole sentence) and corpus BLEU (sacrebleu).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.baselines.kneser_ney import KneserNey
from rnnkit.baselines.ngram_order import best_order
from rnnkit.config import Settings, setting
from rnnkit.data.splits import batched, split_indices
from rnnkit.data.text import read_text
from rnnkit.data.tokenizers import WordTokenizer, fit_vocab, tokenizer_from_dict
from rnnkit.errors import RnnkitError
from rnnkit.generate.constraints import BagConstraint
from rnnkit.generate.fusion import ShallowFusion
from rnnkit.generate.search import beam_search, greedy
from rnnkit.models.seq2seq import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    Seq2Seq,
    Seq2SeqConfig,
    teacher_forced_loss,
)
from rnnkit.plots.attention import plot_attention
from rnnkit.scoring.order import scores
from rnnkit.tasks.base import Splits, Task, check_source, exactly_one_source, register_task
from rnnkit.tasks.phase import CHOICE_SHARE, Scored, TestPhase, partial_figure
from rnnkit.tasks.writing import results_table
from rnnkit.train.steps import ListBatches, StepOutput

MAX_INPUT_WORDS = 64  # longest input `predict` takes: longer ones are refused, not truncated
BEAM = 5  # the network's decoding alone, and a run's before it has chosen one
DEFAULT_DATASET = "shakespeare"
# what the validation split chooses from after training: the n-gram's weight at beam
# WEIGHT_BEAM, then the beam width at that weight
LM_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
WEIGHT_BEAM = 16
BEAMS = (5, 16, 64)
COLUMNS = [("exact_match", "exact", "8.4f"), ("bleu", "BLEU", "8.2f")]
Example = tuple[list[str], list[str]]  # (shuffled words, the sentence's words)
Batch = tuple[Tensor, Tensor, Tensor]  # source ids (B, S), lengths (B,), target ids (B, S)
_BRACKETS = re.compile(r"\[[^\]]*\]")
_SENTENCE_END = re.compile(r"[.!?]+")
_WORD = re.compile(r"\w+(?:'\w+)*")


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def sentences(text: str, min_words: int, max_words: int) -> list[list[str]]:
    """Distinct sentences of ``text`` with min..max words, in order of first appearance."""
    seen: dict[str, list[str]] = {}
    for part in _SENTENCE_END.split(_BRACKETS.sub(" ", text)):
        words = words_of(part)
        if min_words <= len(words) <= max_words:
            seen.setdefault(" ".join(words), words)
    return list(seen.values())


def shuffled(words: list[str], seed: int, i: int) -> list[str]:
    """A fixed shuffle of ``words`` (example ``i`` under ``seed``)."""
    order = np.random.default_rng([seed, i]).permutation(len(words))
    return [words[j] for j in order]


class BigramOrder:
    """The baseline: the order of a bag of words that an add-k smoothed word-bigram model (with
    sentence start and end) scores highest, found by beam search over permutations."""

    def __init__(self, train: list[list[str]], k: float = 0.1, beam: int = 64):
        self.k, self.beam = k, beam
        self.pairs: Counter = Counter()
        self.firsts: Counter = Counter()
        for words in train:
            seq = ["<s>", *words, "</s>"]
            self.pairs.update(zip(seq, seq[1:], strict=False))
            self.firsts.update(seq[:-1])
        self.V = len({w for pair in self.pairs for w in pair})

    def logp(self, prev: str, word: str) -> float:
        return math.log((self.pairs[prev, word] + self.k) / (self.firsts[prev] + self.k * self.V))

    def order(self, words: list[str]) -> list[str]:
        beams: list[tuple[float, list[int]]] = [(0.0, [])]
        for _ in words:
            grown = {}
            for s, used in beams:
                prev = words[used[-1]] if used else "<s>"
                for j, w in enumerate(words):
                    if j not in used:
                        key = (*sorted(used + [j]), w)  # same words used, same last: one state
                        cand = (s + self.logp(prev, w), used + [j])
                        if key not in grown or cand[0] > grown[key][0]:
                            grown[key] = cand
            beams = sorted(grown.values(), key=lambda c: -c[0])[: self.beam]
        best = max(beams, key=lambda c: c[0] + self.logp(words[c[1][-1]], "</s>"))
        return [words[j] for j in best[1]]


def decoding_name(beam: int, lm_weight: float) -> str:
    name = "greedy" if beam == 1 else f"beam {beam}"
    return name + (f", n-gram weight {lm_weight:g}" if lm_weight > 0 else "")


@dataclass(kw_only=True)
class ReorderData(Settings):
    data: str | None = setting(None, "UTF-8 text file", metavar="FILE")
    dataset: str | None = setting(
        None, f"named dataset (default when no --data: {DEFAULT_DATASET}, the bundled plays; kjv"
        " is the King James Bible, fetched once from Debian)", metavar="NAME",
    )  # fmt: skip
    min_words: int = setting(4, "shortest sentence kept (words)", lo=2, hi=MAX_INPUT_WORDS)
    max_words: int = setting(8, "longest sentence kept (words)", lo=2, hi=MAX_INPUT_WORDS)
    vocab_size: int = setting(10000, "vocabulary cap (with 4 special tokens)", lo=5, hi=10**7)
    val: float = setting(0.05, "validation fraction", lo=0, hi=1, lo_open=True)
    test: float = setting(0.1, "held-out test fraction", lo=0, hi=1, lo_open=True)
    split_seed: int = setting(0, "seed of the split and of the fixed shuffles", lo=0, hi=2**63 - 1)
    batch_size: int = setting(64, "sentences per step", lo=1, hi=65536)
    lm_order: int = setting(
        4, "order of the Kneser-Ney word n-gram (fused into decoding; the second baseline)",
        lo=2, hi=8,
    )  # fmt: skip
    lm_weight: float | None = setting(
        None, "weight of the n-gram's log-probability in decoding (default: chosen on the "
        f"validation split after training from {', '.join(f'{w:g}' for w in LM_WEIGHTS)})",
        lo=0, hi=100,
    )  # fmt: skip
    beam: int | None = setting(
        None, "beam width of decoding, 1: greedy (default: chosen on the validation split "
        f"after training from {', '.join(map(str, BEAMS))})", lo=1, hi=256,
    )  # fmt: skip

    def check(self) -> None:
        check_source(self.data, self.dataset, has_default=True)
        if self.min_words > self.max_words:
            raise RnnkitError(f"min_words ({self.min_words}) is above max_words ({self.max_words})")


@register_task
class ReorderTask(Task):
    name = "reorder"
    help = "train a sequence-to-sequence model to put shuffled words back in order"
    description = (
        "Train an attention encoder-decoder to restore sentences from their shuffled words "
        "(default: the bundled Shakespeare; --dataset kjv for the King James Bible; --data "
        "FILE for any text). Decoding adds a Kneser-Ney word n-gram's log-probability, its "
        "weight and the beam chosen on the validation split. Prints exact match and BLEU of "
        "that decoding and of the network alone beside the best orders under a word bigram and "
        "under the n-gram, and writes attention.png for a test sentence."
    )
    Data = ReorderData
    Model = Seq2SeqConfig
    # runs saved before the setting existed fed the attentional vector back in
    absent: ClassVar[dict[str, dict[str, Any]]] = {"model": {"input_feed": True}}
    defaults = {
        "model": {"hidden_size": 256, "embed_dim": 128, "dropout": 0.2},
        "train": {"epochs": 30, "lr": 3e-3, "eval_every": 200, "patience": 5},
    }
    monitor = ("val_bleu", "max")
    unit = "tokens"
    input_settings = ("min_words", "max_words")
    decoding = ("beam",)  # beam search, or greedy (1), over the input's words only

    vocab: WordTokenizer | None = None
    lm: KneserNey | None = None  # None in a run saved before the n-gram was added
    chosen: tuple[int, float] = (BEAM, 0.0)  # (beam, n-gram weight): test's choice, restored

    # -- data ----------------------------------------------------------------------------------

    def prepare(self) -> Splits:
        d = self.data
        text, source = exactly_one_source(d.data, d.dataset, self.name, DEFAULT_DATASET)
        sents = sentences(read_text(d.data) if text is None else text, d.min_words, d.max_words)
        if len(sents) < 3:
            raise RnnkitError(
                f"{source}: {len(sents)} distinct sentences of {d.min_words}-{d.max_words} "
                "words; need at least 3"
            )
        tr, va, te = split_indices(len(sents), d.val, d.test, d.split_seed)
        if self.vocab is None:
            words = fit_vocab((w for i in tr for w in sents[i]), d.vocab_size - 3)
            self.vocab = WordTokenizer([*SPECIALS, *words[1:]])
            self.model.src_vocab_size = self.model.tgt_vocab_size = len(self.vocab)
        if self.lm is None:  # a new run, or one saved before the n-gram (resumed, evaluated)
            self.lm = KneserNey(d.lm_order, len(self.vocab), BOS, [PAD]).fit(
                [[*self.ids(sents[i]), EOS] for i in tr]
            )

        def fixed(idx: list[int]) -> list[Example]:
            return [(shuffled(sents[i], d.split_seed, i), sents[i]) for i in idx]

        info = {"source": source, "split": {"train": len(tr), "val": len(va), "test": len(te)}}
        return Splits(fixed(tr), fixed(va), fixed(te), info)

    def artefacts(self) -> dict[str, Any]:
        return {"tokenizer.json": self.vocab.to_dict(), "ngram.json": self.lm.to_dict()}

    def restore(self, files: dict[str, Any]) -> None:
        vocab = tokenizer_from_dict(files.get("tokenizer.json", {}))
        if not isinstance(vocab, WordTokenizer) or tuple(vocab.vocab[:4]) != SPECIALS:
            raise RnnkitError("tokenizer.json of the run is not a reorder vocabulary")
        self.vocab = vocab
        if "ngram.json" in files:
            try:
                lm = KneserNey.from_dict(files["ngram.json"])
            except (KeyError, TypeError, ValueError, IndexError):
                lm = None
            if lm is None or lm.vocab_size != len(vocab) or lm.bos != BOS:
                raise RnnkitError("ngram.json of the run is not an n-gram over its vocabulary")
            self.lm = lm

    def ids(self, words: list[str]) -> list[int]:
        return [self.vocab.index.get(w, UNK) for w in words]

    def make_batches(self, examples: list[Example], batch_size: int) -> tuple[list, list]:
        def make(rows: list[Example]) -> Batch:
            lengths = torch.tensor([len(t) for _, t in rows])  # (B,)
            src = torch.full((len(rows), int(lengths.max())), PAD)  # (B, S)
            tgt = torch.full_like(src, PAD)  # (B, S): a sentence is as long as its shuffle
            for r, (s, t) in enumerate(rows):
                src[r, : len(s)], tgt[r, : len(t)] = (
                    torch.tensor(self.ids(s)),
                    torch.tensor(self.ids(t)),
                )
            return src, lengths, tgt

        return batched(examples, batch_size, lambda e: len(e[1]), make)

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int):
        train, _ = self.make_batches(splits.train, self.data.batch_size)
        val, _ = self.make_batches(splits.val, 256)
        return ListBatches(train, seed=seed, rank=rank, world=world), ListBatches(val, False)

    def build_model(self) -> Seq2Seq:
        return Seq2Seq(self.model)

    # -- training ------------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Batch, state: Any) -> StepOutput:
        """Label-smoothed cross-entropy of the sentence given its shuffle, EOS included. While
        training the shuffle is drawn afresh from torch's CPU generator, whose state every
        checkpoint keeps (CUDA's is not kept)."""
        src, lengths, tgt = batch
        if model.training:
            keys = torch.rand(tgt.shape).to(tgt.device)  # CPU generator: the one checkpoints keep
            keys = keys.masked_fill(tgt == PAD, 2.0)
            src = tgt.gather(1, keys.argsort(1))  # (B, S): real words first, shuffled
        loss = teacher_forced_loss(model, src, lengths, tgt, lengths)
        return StepOutput(loss, int(lengths.sum()) + tgt.shape[0])

    # -- decoding and scores -------------------------------------------------------------------

    @torch.no_grad()
    def reorder(self, model: nn.Module, inputs: list[list[str]], beam: int = BEAM,
                lm_weight: float = 0.0) -> list[dict]:  # fmt: skip
        """Per input word list: the output words, log-probability (the network's, plus the
        weighted n-gram's when fused), score and attention (T_out, S), in the order given.
        ``beam=1`` is greedy decoding; ``lm_weight`` > 0 fuses the n-gram."""
        if lm_weight > 0 and self.lm is None:
            raise RnnkitError("this run has no n-gram to fuse (trained before it was saved)")
        model.eval()
        device = next(model.parameters()).device
        rows = [(words, words) for words in inputs]
        batches, order = self.make_batches(rows, 256)
        out: list[dict] = [{} for _ in inputs]
        positions = iter(order)
        for src, lengths, _ in batches:
            src = src.to(device)
            counts = torch.zeros(src.shape[0], len(self.vocab), dtype=torch.long, device=device)
            counts.scatter_add_(1, src, torch.ones_like(src))  # (N, V): each word's count
            counts[:, PAD] = 0
            bag = BagConstraint(counts, EOS)
            step_model: Any = model
            if lm_weight > 0:  # the n-gram is asked about the bag's words and the end only
                candidates = counts > 0  # (N, V)
                candidates[:, EOS] = True
                step_model = ShallowFusion(model, self.lm, lm_weight, PAD, candidates)
            max_len = int(lengths.max()) + 1
            if beam == 1:
                hyps = greedy(step_model, src, lengths, BOS, EOS, max_len, constraint=bag)
            else:
                hyps = beam_search(step_model, src, lengths, BOS, EOS, max_len, beam=beam,
                                   constraint=bag)  # fmt: skip
            for h in hyps:
                i = next(positions)
                unknown = iter([w for w in inputs[i] if self.vocab.index.get(w, UNK) == UNK])
                words = [next(unknown) if t == UNK else self.vocab.vocab[t] for t in h.tokens]
                out[i] = {"words": words, "logprob": h.logprob, "score": h.score,
                          "attention": h.attention}  # fmt: skip
        return out

    def metrics(
        self, model: nn.Module, val: ListBatches, examples: list[Example]
    ) -> dict[str, float]:
        """Greedy decoding of the validation split (quicker than the beam; picks the best), from
        its words: those outside the vocabulary are kept in the output."""
        scored = self.phase.validate(
            examples, lambda xs: self.reorder(model, [s for s, _ in xs], 1), "sentences"
        )
        pred = [r["words"] for r in scored.outputs["validation"]]
        figures = scores(pred, [t for _, t in scored.pick(examples)], effective_order=True)
        return {**figures, **partial_figure(scored)}

    def score(self, model: nn.Module, examples: list[Example]) -> dict[str, Any]:
        """Figures of the run's decoding (chosen on the validation split after training),
        through the test phase's chunks: the test's own decoding, to the bit."""
        passes = {"score": self.reorder_pass(model, *self.chosen)}
        rows = TestPhase().run(examples, passes, "score").outputs["score"]
        return {"sentences": len(examples),
                **scores([r["words"] for r in rows], [t for _, t in examples])}  # fmt: skip

    def choose_decoding(self, model: nn.Module, val: list[Example]) -> dict[str, Any]:
        """The n-gram weight and beam the run will use: each of ``--lm-weight`` and ``--beam``
        as given, else chosen on the validation split by exact match, then BLEU, then the
        smaller beam and weight: first the weight (``LM_WEIGHTS``) at beam ``WEIGHT_BEAM``,
        then the beam (``BEAMS``) at that weight. The weight balances a network against a
        count model of another scale, and a larger beam helps only where the fused scores
        disagree with the network's; the validation split asks rather than assume."""
        d = self.data
        weights = LM_WEIGHTS if d.lm_weight is None else (d.lm_weight,)
        beams = BEAMS if d.beam is None else (d.beam,)
        if len(weights) == len(beams) == 1:
            self.chosen = (beams[0], weights[0])
            return {"beam": beams[0], "lm_weight": weights[0], "chosen_by": "settings"}
        weight_beam = WEIGHT_BEAM if d.beam is None else d.beam
        first = self.phase.run(val, {decoding_name(weight_beam, w): self.reorder_pass(
            model, weight_beam, w) for w in weights}, "choosing the n-gram weight", "sentences",
            CHOICE_SHARE / 2)  # fmt: skip
        figures = self.order_figures(first, val, {(weight_beam, w) for w in weights})
        weight = self.best_decoding(figures)[1]
        kept = first.pick(val)
        second = self.phase.run(kept, {decoding_name(b, weight): self.reorder_pass(model, b, weight)
                                       for b in beams if b != weight_beam},
                                "choosing the beam", "sentences", CHOICE_SHARE)  # fmt: skip
        beam_figures = self.order_figures(second, kept, {(b, weight) for b in beams})
        if weight_beam in beams:  # that decoding again, on the sentences the others decoded
            same = {first.indices[j] for j in second.indices}
            outputs = [o for i, o in zip(first.indices, first.outputs[decoding_name(
                weight_beam, weight)], strict=True) if i in same]  # fmt: skip
            beam_figures[weight_beam, weight] = scores(
                [r["words"] for r in outputs], [t for _, t in second.pick(kept)], True
            )
        self.chosen = self.best_decoding(beam_figures)
        return {"beam": self.chosen[0], "lm_weight": self.chosen[1],
                "chosen_by": "validation exact match, then BLEU",
                "validation_sentences": {"weight": len(first.indices),
                                         "beam": len(second.indices)},
                "validation": {decoding_name(*k): f
                               for k, f in {**figures, **beam_figures}.items()}}  # fmt: skip

    def reorder_pass(self, model: nn.Module, beam: int, lm_weight: float) -> Any:
        """A pass of the test phase: examples -> their rows reordered with this decoding."""
        return lambda examples: self.reorder(model, [s for s, _ in examples], beam, lm_weight)

    @staticmethod
    def order_figures(
        scored: Scored, examples: list[Example], decodings: set[tuple[int, float]]
    ) -> dict[tuple[int, float], dict[str, float]]:
        """Validation figures (effective-order BLEU) of each decoding ``scored`` holds."""
        gold = [t for _, t in scored.pick(examples)]
        return {(b, w): scores([r["words"] for r in scored.outputs[decoding_name(b, w)]], gold,
                               effective_order=True)
                for b, w in decodings if decoding_name(b, w) in scored.outputs}  # fmt: skip

    @staticmethod
    def best_decoding(figures: dict[tuple[int, float], dict[str, float]]) -> tuple[int, float]:
        """Exact match, then BLEU, then the smaller beam and weight."""
        return max(figures, key=lambda k: (figures[k]["exact_match"], figures[k]["bleu"],
                                           -k[0], -k[1]))  # fmt: skip

    def restore_results(self, results: dict[str, Any]) -> None:
        decoding = results.get("decoding") if isinstance(results, dict) else None
        if not isinstance(decoding, dict):
            return
        beam, weight = decoding.get("beam"), decoding.get("lm_weight")
        if isinstance(beam, int) and beam >= 1 and isinstance(weight, int | float) and weight >= 0:
            self.chosen = (beam, float(weight))

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        decoding = self.choose_decoding(model, splits.val)
        used, alone = decoding_name(*self.chosen), decoding_name(BEAM, 0.0)
        bigram = BigramOrder([t for _, t in splits.train])
        bigram_name = "add-0.1 word bigram, beam 64"
        kn_name = f"Kneser-Ney word {self.lm.order}-gram, beam 64"
        passes = {used: self.reorder_pass(model, *self.chosen),
                  alone: self.reorder_pass(model, BEAM, 0.0),
                  "greedy": self.reorder_pass(model, 1, 0.0),
                  bigram_name: lambda examples: [bigram.order(s) for s, _ in examples],
                  kn_name: lambda examples: [[s[j] for j in best_order(self.lm, self.ids(s), EOS)]
                                             for s, _ in examples]}  # fmt: skip
        scored = self.phase.run(splits.test, passes, "test", "sentences")
        examples = scored.pick(splits.test)
        inputs, gold = [s for s, _ in examples], [t for _, t in examples]
        rows, out = scored.outputs[used], scored.outputs
        first = rows[0]
        if first["attention"] is not None:
            plot_attention(first["attention"], inputs[0], [*first["words"], "</s>"],
                           run_dir / "attention.png", "attention, first test sentence")  # fmt: skip
        return {
            "decoding": decoding,
            "test": {"sentences": len(gold), "decoding": used,
                     **scores([r["words"] for r in rows], gold)},
            "model": {"decoding": alone, **scores([r["words"] for r in out[alone]], gold)},
            "greedy": scores([r["words"] for r in out["greedy"]], gold),
            "test_scored": scored.info(),
            "baselines": {
                "bigram": {"name": bigram_name, **scores(out[bigram_name], gold)},
                "kneser_ney": {"name": kn_name, **scores(out[kn_name], gold)},
            },
        }  # fmt: skip

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        decodings = [(f"seq2seq, {r['test']['decoding']} (used)", r["test"]),
                     (f"seq2seq alone, {r['model']['decoding']}", r["model"]),
                     ("seq2seq alone, greedy", r["greedy"])]  # fmt: skip
        notes = [f"decoding: {r['test']['decoding']}, chosen by {r['decoding']['chosen_by']}"]
        return results_table(r, "sentences", notes, COLUMNS, decodings)

    # -- using a trained model -----------------------------------------------------------------

    def read_examples(self, path: str) -> list[Example]:
        d = self.data
        sents = sentences(read_text(path), d.min_words, d.max_words)
        if not sents:
            raise RnnkitError(f"{path}: no sentence of {d.min_words}-{d.max_words} words")
        return [(shuffled(s, d.split_seed, i), s) for i, s in enumerate(sents)]

    def parse_input(self, text: str) -> list[str]:
        words = words_of(text)
        if not words:
            raise RnnkitError(f"an input holds no word: {text!r}")
        if len(words) > MAX_INPUT_WORDS:
            raise RnnkitError(
                f"an input has {len(words)} words; at most {MAX_INPUT_WORDS} are taken"
            )
        if all(self.vocab.index.get(w, UNK) == UNK for w in words):
            raise RnnkitError(f"no word of this input is in the model's vocabulary: {text[:60]!r}")
        return words

    def read_inputs(self, path: str) -> list[list[str]]:
        from rnnkit.data.tables import read_lines

        return [self.parse_input(line) for line in read_lines(path)]

    def predict(
        self, model: nn.Module, inputs: list[Any], beam: int | None = None
    ) -> list[dict[str, Any]]:
        """The run's decoding (its beam and n-gram weight); ``beam`` replaces its beam."""
        inputs = [w if isinstance(w, list) else self.parse_input(w) for w in inputs]
        beam = self.chosen[0] if beam is None else beam
        rows = []
        for words, r in zip(inputs, self.reorder(model, inputs, beam, self.chosen[1]),
                            strict=True):  # fmt: skip
            a = None if r["attention"] is None else r["attention"].tolist()
            rows.append({
                "input": " ".join(words), "output": " ".join(r["words"]),
                "logprob": round(r["logprob"], 4),
                "attention": None if a is None else [[round(x, 4) for x in row] for row in a],
            })  # fmt: skip
        return rows

    def format_prediction(self, row: dict[str, Any]) -> str:
        return row["output"]
