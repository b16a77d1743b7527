"""What every text-to-text task shares (translation, and any other pairs of texts): reading
pairs, splitting them by group, one tokenizer per side fitted on the training split, batches,
the teacher-forced loss, and BLEU/chrF; decoding (beam, greedy or sampling, with unknown-word
replacement), the test and predictions come from ``rnnkit.tasks.writing``.

A subclass names its named datasets and baselines (``baselines``); ``TranslateTask`` is one.

Splits keep a group together (a Bible chapter; a user row is its own group unless
``--group-col`` names one), so no test pair has its neighbours in training. Pairs with a side
longer than ``max_tokens`` are left out of training (counted in results.json); validation and
test pairs are all kept, and decoding stops at twice the source's length plus 10 tokens or
at ``max_tokens`` + 1, whichever comes first (no training target was longer). With
``source_tokens`` N the model reads only each source's first N tokens, in training and use
alike (summaries of long documents: the opening carries most of what a summary says).

Copy attention (``--copy``): a source token copies to the target token of the same text; one
the target vocabulary lacks copies to ``<unk>``, which the replacement below turns back into
the source token. With ``shared_vocab`` both sides have one tokenizer (fitted on both sides'
training text), so every source token can be copied as itself.

Unknown words: a word-level vocabulary maps a word it lacks to ``<unk>``; when the model
emits ``<unk>`` the output takes the source token it attended to most at that step
(``rnnkit.tasks.writing``). Subword vocabularies rarely emit ``<unk>`` at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from rnnkit.config import Settings, setting
from rnnkit.data.parallel import read_pairs
from rnnkit.data.splits import batched, split_indices
from rnnkit.data.tokenizers import (
    SubwordTokenizer,
    WordTokenizer,
    fit_vocab,
    tokenizer_from_dict,
)
from rnnkit.errors import RnnkitError
from rnnkit.models.seq2seq import PAD, SPECIALS, UNK, Seq2Seq, Seq2SeqConfig, teacher_forced_loss
from rnnkit.plots.attention import plot_attention
from rnnkit.scoring.bleu import bleu_chrf
from rnnkit.tasks.base import Splits, check_source, exactly_one_source
from rnnkit.tasks.writing import BEAM, DECODE_BATCH, WritingTask, results_table, rounded
from rnnkit.train.steps import ListBatches, StepOutput

MAX_INPUT_TOKENS = 1000  # longest input `predict` takes: longer ones are refused, not cut
MIN_PAIRS = 20  # fewest usable pairs a text-to-text run trains on (a 3-row table is a mistake)
TOKEN_LEVELS = ("word", "char", "bpe", "unigram")
Pair = tuple[str, str]  # (source text, target text)
Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # src (B, S), src lengths (B,), tgt (B, T), lengths


@dataclass(kw_only=True)
class TextPairData(Settings):
    data: str | None = setting(
        None, "pairs: .csv/.tsv/.jsonl with a source and a target column, or the source side "
        "of two aligned text files (with --tgt-file)", metavar="FILE",
    )  # fmt: skip
    tgt_file: str | None = setting(None, "target side of two aligned text files", metavar="FILE")
    dataset: str | None = setting(
        None, "named dataset (the default when no --data)", metavar="NAME"
    )
    src_col: str | None = setting(None, "source column (default: guessed)", metavar="NAME")
    tgt_col: str | None = setting(None, "target column (default: guessed)", metavar="NAME")
    group_col: str | None = setting(
        None, "column whose rows are split together (default: each row alone)", metavar="NAME"
    )
    tokens: str = setting("bpe", "token level of both sides", choices=TOKEN_LEVELS)
    vocab_size: int = setting(4000, "vocabulary size of each side (word, bpe, unigram)", lo=8,
                              hi=10**6)  # fmt: skip
    shared_vocab: bool = setting(
        False, "one vocabulary for both sides, fitted on both (same-language pairs: summaries)"
    )
    max_tokens: int = setting(120, "training pairs with a longer side are left out", lo=1, hi=10**5)
    source_tokens: int = setting(
        0, "the model reads only a source's first N tokens (0: all of it)", lo=0, hi=10**5
    )
    val: float = setting(0.02, "validation fraction (of groups)", lo=0, hi=1, lo_open=True)
    test: float = setting(0.03, "held-out test fraction (of groups)", lo=0, hi=1, lo_open=True)
    split_seed: int = setting(0, "seed of the split", lo=0, hi=2**63 - 1)
    batch_size: int = setting(64, "pairs per step (unless batch_tokens)", lo=1, hi=65536)
    batch_tokens: int = setting(
        0, "training batches of similar lengths, as many pairs as keep rows x the longest "
        "pair's tokens (source + target) within N (fairseq's --max-tokens); 0: batch_size "
        "pairs a step", lo=0, hi=10**8,
    )  # fmt: skip

    def check(self) -> None:
        if self.tgt_file is not None and self.data is None:
            raise RnnkitError("tgt_file is the target side of data: give data too")
        check_source(self.data, self.dataset, has_default=True)


def fit_side(texts: list[str], level: str, vocab_size: int) -> WordTokenizer | SubwordTokenizer:
    """One side's tokenizer; its first ids are ``SPECIALS`` (``<unk>`` is 0, as both need)."""
    if level == "word":
        words = fit_vocab((w for t in texts for w in WordTokenizer._split(t, False)),
                          vocab_size - len(SPECIALS) + 1)  # fmt: skip
        return WordTokenizer([*SPECIALS, *words[1:]])
    return SubwordTokenizer.fit(texts, level, vocab_size, SPECIALS)


class TextToTextTask(WritingTask):
    """Base of the text-to-text tasks; see the module docstring."""

    Data = TextPairData
    Model = Seq2SeqConfig
    monitor = ("val_bleu", "max")
    input_settings = ("src_col", "tgt_col")
    count = "pairs"
    default_dataset: ClassVar[str]

    src_tok: Any = None
    tgt_tok: Any = None

    # -- data ----------------------------------------------------------------------------------

    def load(self) -> tuple[list[Pair], list[str], str, int]:
        """(pairs, a group per pair, where they came from, rows skipped)."""
        d = self.data
        rows, source = exactly_one_source(d.data, d.dataset, self.name, self.default_dataset)
        if d.data is None:
            return self.from_named(rows) + (source, 0)
        pairs = read_pairs(d.data, d.src_col, d.tgt_col, d.tgt_file, d.group_col)
        rows = list(zip(pairs.sources, pairs.targets, strict=True))
        return rows, pairs.groups, d.data, pairs.skipped

    def from_named(self, rows: Any) -> tuple[list[Pair], list[str]]:
        raise NotImplementedError

    def prepare(self) -> Splits:
        d = self.data
        pairs, groups, source, skipped = self.load()
        if len(pairs) < MIN_PAIRS:  # three rows would "train" and test on one pair
            raise RnnkitError(
                f"{source}: {len(pairs)} usable pairs; training needs at least {MIN_PAIRS} "
                "(a training, a validation and a test part)"
            )
        names = sorted(set(groups))
        g_tr, g_va, g_te = split_indices(len(names), d.val, d.test, d.split_seed)
        part = {names[i]: k for k, idx in enumerate((g_tr, g_va, g_te)) for i in idx}
        train, val, test = [], [], []
        for p, g in zip(pairs, groups, strict=True):
            (train, val, test)[part[g]].append(p)
        if self.src_tok is None:
            sources, targets = [s for s, _ in train], [t for _, t in train]
            if d.shared_vocab:
                self.src_tok = self.tgt_tok = fit_side(sources + targets, d.tokens, d.vocab_size)
            else:
                self.src_tok = fit_side(sources, d.tokens, d.vocab_size)
                self.tgt_tok = fit_side(targets, d.tokens, d.vocab_size)
            self.model.src_vocab_size = len(self.src_tok)
            self.model.tgt_vocab_size = len(self.tgt_tok)
        kept = [p for p in train if max(map(len, self.encode(p))) <= d.max_tokens]
        if not kept:
            raise RnnkitError(f"every training pair has a side over max_tokens={d.max_tokens}")
        info = {
            "source": source,
            "split": {"train": len(kept), "val": len(val), "test": len(test)},
            "groups": {"train": len(g_tr), "val": len(g_va), "test": len(g_te)},
            "skipped_rows": skipped,
            "too_long_left_out": len(train) - len(kept),
        }
        return Splits(kept, val, test, info)

    def artefacts(self) -> dict[str, Any]:
        return {"source_tokenizer.json": self.src_tok.to_dict(),
                "target_tokenizer.json": self.tgt_tok.to_dict()}  # fmt: skip

    def restore(self, files: dict[str, Any]) -> None:
        for side in ("source", "target"):
            tok = tokenizer_from_dict(files.get(f"{side}_tokenizer.json", {}))
            if tuple(tok.vocab[: len(SPECIALS)]) != SPECIALS:
                raise RnnkitError(f"{side}_tokenizer.json of the run is not a seq2seq vocabulary")
            setattr(self, "src_tok" if side == "source" else "tgt_tok", tok)

    def encode(self, pair: Pair) -> tuple[list[int], list[int]]:
        src = self.src_tok.encode(pair[0])
        return src[: self.data.source_tokens or None], self.tgt_tok.encode(pair[1])

    def make_batches(
        self, pairs: list[Pair], batch_size: int, max_tokens: int = 0
    ) -> tuple[list[Batch], list[int]]:
        """Padded batches of similar lengths (``batch_size`` pairs, or up to ``max_tokens``
        tokens when above 0) and the order of the pairs in them."""
        encoded = [self.encode(p) for p in pairs]

        def make(rows: list[tuple[list[int], list[int]]]) -> Batch:
            src_len = torch.tensor([max(len(s), 1) for s, _ in rows])  # (B,)
            tgt_len = torch.tensor([len(t) for _, t in rows])  # (B,)
            src = torch.full((len(rows), int(src_len.max())), PAD)  # (B, S)
            tgt = torch.full((len(rows), int(tgt_len.max())), PAD)  # (B, T)
            for r, (s, t) in enumerate(rows):
                src[r, : len(s)] = torch.tensor(s or [UNK])
                tgt[r, : len(t)] = torch.tensor(t, dtype=torch.long)
            return src, src_len, tgt, tgt_len

        return batched(encoded, batch_size, lambda e: len(e[0]) + len(e[1]) + 1, make, max_tokens)

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int):
        train, _ = self.make_batches(splits.train, self.data.batch_size, self.data.batch_tokens)
        val, _ = self.make_batches(splits.val, DECODE_BATCH)
        return ListBatches(train, seed=seed, rank=rank, world=world), ListBatches(val, False)

    def build_model(self) -> Seq2Seq:
        model = Seq2Seq(self.model)
        if self.model.copy:  # a source token copies to the same token of the target side
            target_ids = {tok: i for i, tok in enumerate(self.tgt_tok.vocab)}
            model.set_copy_map(torch.tensor([target_ids.get(t, UNK) for t in self.src_tok.vocab]))
        return model

    # -- training ------------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Batch, state: Any) -> StepOutput:
        src, src_len, tgt, tgt_len = batch
        loss = teacher_forced_loss(model, src, src_len, tgt, tgt_len)
        return StepOutput(loss, int(tgt_len.sum()) + tgt.shape[0])

    # -- decoding and scores -------------------------------------------------------------------

    @property
    def output_tokenizer(self) -> Any:
        return self.tgt_tok

    def decode_batches(self, sources: list[str]) -> tuple[list[tuple[Tensor, Tensor]], list[int]]:
        batches, order = self.make_batches([(s, "") for s in sources], DECODE_BATCH)
        return [(src, src_len) for src, src_len, _, _ in batches], order

    def max_length(self, lengths: Tensor) -> int:
        # no training target was longer than max_tokens: a longer output is a loop
        return min(2 * int(lengths.max()) + 10, self.data.max_tokens + 1)

    def source_tokens(self, source: str) -> list[str]:
        tokens = self.src_tok.tokenize(source)[: self.data.source_tokens or None]
        return tokens or ["<unk>"]

    def sources(self, pairs: list[Pair]) -> list[str]:
        return [s for s, _ in pairs]

    def references(self, pairs: list[Pair]) -> list[str]:
        return [t for _, t in pairs]

    def mean_loss(self, model: nn.Module, pairs: list[Pair]) -> float:
        """Mean cross-entropy per target token (end tokens included) of ``pairs``."""
        model.eval()
        device = next(model.parameters()).device
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in self.make_batches(pairs, DECODE_BATCH)[0]:
                out = self.loss(model, tuple(t.to(device) for t in batch), None)
                total, count = total + float(out.loss) * out.count, count + out.count
        return total / max(count, 1)

    def figures(
        self, outputs: list[str], references: list[str], selection: bool = False
    ) -> dict[str, float]:
        """The task's scores of outputs against references (here BLEU and chrF)."""
        return bleu_chrf(outputs, references, effective_order=selection)

    def example(self, pair: Pair, output: str) -> dict[str, Any]:
        return {"source": pair[0], "reference": pair[1], "output": output}

    def plot_test(self, pairs: list[Pair], rows: list[dict], run_dir: Path) -> None:
        first = rows[0]
        if first["attention"] is not None:
            plot_attention(first["attention"], first["source_tokens"],
                           [*first["tokens"], "</s>"], run_dir / "attention.png",
                           "attention, first test pair")  # fmt: skip

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        # one column per figure of the beam decoding (BLEU and chrF; chat formats its own)
        columns = [(c, c, "8.2f") for c in r["test"] if c != "pairs"]
        decodings = [(f"seq2seq, beam {BEAM}", r["test"]), ("seq2seq, greedy", r["greedy"])]
        return results_table(r, "pairs", [], columns, decodings)

    # -- using a trained model -----------------------------------------------------------------

    def read_examples(self, path: str) -> list[Pair]:
        d = self.data
        pairs = read_pairs(path, d.src_col, d.tgt_col)
        return list(zip(pairs.sources, pairs.targets, strict=True))

    def parse_input(self, text: str) -> str:
        text = " ".join(str(text).split())
        if not text:
            raise RnnkitError("an input is empty")
        ids = self.src_tok.encode(text)
        if len(ids) > MAX_INPUT_TOKENS:
            raise RnnkitError(
                f"an input has {len(ids)} tokens; at most {MAX_INPUT_TOKENS} are taken "
                "(split it into sentences)"
            )
        if all(i == UNK for i in ids):
            raise RnnkitError(f"nothing in this input is in the model's vocabulary: {text[:60]!r}")
        return text

    def read_inputs(self, path: str) -> list[str]:
        from rnnkit.data.tables import read_lines

        return [self.parse_input(line) for line in read_lines(path, self.data.src_col)]

    def prediction_row(self, text: str, row: dict[str, Any]) -> dict[str, Any]:
        return {"input": text, "output": row["text"], "logprob": round(row["logprob"], 4),
                "source_tokens": row["source_tokens"], "output_tokens": row["tokens"],
                "attention": rounded(row["attention"])}  # fmt: skip

    def format_prediction(self, row: dict[str, Any]) -> str:
        return row["output"]
