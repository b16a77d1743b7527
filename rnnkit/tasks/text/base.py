"""What every text-to-text task shares (translation, and any other pairs of texts): reading
pairs, splitting them by group, one tokenizer per side fitted on the training split, batches,
the teacher-forced loss, decoding with unknown-word replacement, and BLEU/chrF.

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
(Luong et al. 2015's unk replacement). Subword vocabularies rarely emit ``<unk>`` at all.
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
from rnnkit.generate.search import beam_search, greedy, sample
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
from rnnkit.plots.curves import plot_curve
from rnnkit.tasks.base import Splits, Task
from rnnkit.train.steps import ListBatches, StepOutput

BEAM = 5
MAX_INPUT_TOKENS = 1000  # longest input `predict` takes: longer ones are refused, not cut
DECODE_BATCH = 64
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
    batch_size: int = setting(64, "pairs per step", lo=1, hi=65536)

    def check(self) -> None:
        if self.tgt_file is not None and self.data is None:
            raise RnnkitError("tgt_file is the target side of data: give data too")
        if self.data is not None and self.dataset is not None:
            raise RnnkitError("give either data (a file) or dataset (a name), not both")


def fit_side(texts: list[str], level: str, vocab_size: int) -> WordTokenizer | SubwordTokenizer:
    """One side's tokenizer; its first ids are ``SPECIALS`` (``<unk>`` is 0, as both need)."""
    if level == "word":
        words = fit_vocab((w for t in texts for w in WordTokenizer._split(t, False)),
                          vocab_size - len(SPECIALS) + 1)  # fmt: skip
        return WordTokenizer([*SPECIALS, *words[1:]])
    return SubwordTokenizer.fit(texts, level, vocab_size, SPECIALS)


def bleu_chrf(hyps: list[str], refs: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu's defaults, 0-100) of detokenized texts."""
    import sacrebleu

    return {
        "bleu": float(sacrebleu.corpus_bleu(hyps, [refs]).score),
        "chrf": float(sacrebleu.corpus_chrf(hyps, [refs]).score),
    }


class TextToTextTask(Task):
    """Base of the text-to-text tasks; see the module docstring."""

    Data = TextPairData
    Model = Seq2SeqConfig
    monitor = ("val_bleu", "max")
    unit = "tokens"
    input_settings = ("src_col", "tgt_col")
    default_dataset: ClassVar[str]

    src_tok: Any = None
    tgt_tok: Any = None
    val_pairs: list[Pair] = []

    # -- data ----------------------------------------------------------------------------------

    def load(self) -> tuple[list[Pair], list[str], str, int]:
        """(pairs, a group per pair, where they came from, rows skipped)."""
        d = self.data
        if d.data is None:
            from rnnkit.data import named

            name = d.dataset or self.default_dataset
            rows = named.get(name, self.name).load()
            return self.from_named(rows) + (name, 0)
        pairs = read_pairs(d.data, d.src_col, d.tgt_col, d.tgt_file, d.group_col)
        rows = list(zip(pairs.sources, pairs.targets, strict=True))
        return rows, pairs.groups, d.data, pairs.skipped

    def from_named(self, rows: Any) -> tuple[list[Pair], list[str]]:
        raise NotImplementedError

    def prepare(self) -> Splits:
        d = self.data
        pairs, groups, source, skipped = self.load()
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

    def make_batches(self, pairs: list[Pair], batch_size: int) -> tuple[list[Batch], list[int]]:
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

        return batched(encoded, batch_size, lambda e: len(e[0]) + len(e[1]), make)

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int):
        train, _ = self.make_batches(splits.train, self.data.batch_size)
        val, _ = self.make_batches(splits.val, DECODE_BATCH)
        self.val_pairs = splits.val  # the texts, for `metrics`
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

    @torch.no_grad()
    def decode(
        self,
        model: nn.Module,
        sources: list[str],
        beam: int = BEAM,
        temperature: float = 0.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> list[dict]:
        """Per source text: the output text, its log-probability, the source and output
        tokens and the attention (T_out, S), in the order given. ``beam=1`` is greedy; a
        ``temperature`` above 0 samples instead (nucleus ``top_p``)."""
        model.eval()
        device = next(model.parameters()).device
        batches, order = self.make_batches([(s, "") for s in sources], DECODE_BATCH)
        out: list[dict] = [{} for _ in sources]
        positions = iter(order)
        for src, src_len, _, _ in batches:
            src = src.to(device)
            # no training target was longer than max_tokens: a longer output is a loop
            max_len = min(2 * int(src_len.max()) + 10, self.data.max_tokens + 1)
            if temperature > 0:
                hyps = sample(model, src, src_len, BOS, EOS, max_len, temperature=temperature,
                              top_p=top_p, generator=generator)  # fmt: skip
            elif beam == 1:
                hyps = greedy(model, src, src_len, BOS, EOS, max_len)
            else:
                hyps = beam_search(model, src, src_len, BOS, EOS, max_len, beam=beam)
            for h in hyps:
                i = next(positions)
                src_tokens = self.src_tok.tokenize(sources[i])[: self.data.source_tokens or None]
                src_tokens = src_tokens or ["<unk>"]
                tokens = [self.tgt_tok.token(t) for t in h.tokens]
                if h.attention is not None:  # unknown-word replacement
                    looked = h.attention[:, : len(src_tokens)].argmax(-1).tolist()
                    tokens = [src_tokens[looked[j]] if t == UNK else self.tgt_tok.token(t)
                              for j, t in enumerate(h.tokens)]  # fmt: skip
                out[i] = {"text": self.tgt_tok.detokenize(tokens), "logprob": h.logprob,
                          "source_tokens": src_tokens, "tokens": tokens,
                          "attention": h.attention}  # fmt: skip
        return out

    def metrics(self, model: nn.Module, val: ListBatches) -> dict[str, float]:
        """Greedy decoding of the validation split (quicker than the beam; picks the best)."""
        rows = self.decode(model, [s for s, _ in self.val_pairs], beam=1)
        return self.figures([r["text"] for r in rows], [t for _, t in self.val_pairs])

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

    def figures(self, outputs: list[str], references: list[str]) -> dict[str, float]:
        """The task's scores of outputs against references (here BLEU and chrF)."""
        return bleu_chrf(outputs, references)

    def score(self, model: nn.Module, examples: list[Pair]) -> dict[str, Any]:
        rows = self.decode(model, [s for s, _ in examples])
        return {"pairs": len(examples),
                **self.figures([r["text"] for r in rows], [t for _, t in examples])}  # fmt: skip

    def baselines(self, splits: Splits) -> dict[str, tuple[str, list[str]]]:
        """{key: (description, one output per test pair)}: the task's baselines."""
        return {}

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        sources, refs = [s for s, _ in splits.test], [t for _, t in splits.test]
        rows = self.decode(model, sources)
        greedy_rows = self.decode(model, sources, beam=1)
        result: dict[str, Any] = {
            "test": {"pairs": len(refs), **self.figures([r["text"] for r in rows], refs)},
            "greedy": self.figures([r["text"] for r in greedy_rows], refs),
            "baselines": {},
        }
        for key, (description, hyps) in self.baselines(splits).items():
            result["baselines"][key] = {"name": description, **self.figures(hyps, refs)}
        result["examples"] = [
            {"source": s, "reference": t, "output": r["text"]}
            for s, t, r in zip(sources[:5], refs[:5], rows[:5], strict=True)
        ]
        first = rows[0]
        if first["attention"] is not None:
            plot_attention(first["attention"], first["source_tokens"],
                           [*first["tokens"], "</s>"], run_dir / "attention.png",
                           "attention, first test pair")  # fmt: skip
        figure = self.monitor[0].removeprefix("val_")
        lines = {v["name"]: v[figure] for v in result["baselines"].values() if figure in v}
        plot_curve(run_dir, figure, lines, run_dir / f"{figure}_curve.png")
        return result

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        s = r["split"]
        columns = [c for c in r["test"] if c != "pairs"]  # beam's figures (chat: perplexity)
        lines = [f"test split: {s['test']} pairs (train {s['train']}, val {s['val']})",
                 f"{'':44s}" + "".join(f" {c:>8s}" for c in columns)]  # fmt: skip
        named = [(f"seq2seq, beam {BEAM}", r["test"]), ("seq2seq, greedy", r["greedy"])]
        named += [(f"baseline: {b['name']}", b) for b in r.get("baselines", {}).values()]
        for name, t in named:
            cells = (f" {t[c]:8.2f}" if c in t else f" {'-':>8s}" for c in columns)
            lines.append(f"{name[:44]:44s}" + "".join(cells))
        return "\n".join(lines)

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

    def predict(self, model: nn.Module, inputs: list[Any], beam: int = BEAM) -> list[dict]:
        inputs = [self.parse_input(x) for x in inputs]
        rows = []
        for text, r in zip(inputs, self.decode(model, inputs, beam), strict=True):
            a = r["attention"]
            rows.append({
                "input": text, "output": r["text"], "logprob": round(r["logprob"], 4),
                "source_tokens": r["source_tokens"], "output_tokens": r["tokens"],
                "attention": None if a is None else [[round(x, 4) for x in row]
                                                     for row in a.tolist()],
            })  # fmt: skip
        return rows

    def format_prediction(self, row: dict[str, Any]) -> str:
        return row["output"]
