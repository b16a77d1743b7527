"""Sequence tagging (many-to-many, aligned): named entities or parts of speech, beside the
most-frequent-tag baseline on the same split.

Scores: for BIO/IOB2 tag sets (every tag ``O`` or ``B-x``/``I-x``), entity-level precision,
recall and F1 from seqeval (an entity counts only when its type and both ends are right);
for other tag sets, token accuracy. Token accuracy is reported in both cases. The run keeps
``tokenizer.json`` (the words) and ``tags.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.baselines import classic as baselines
from rnnkit.config import Settings, setting
from rnnkit.data.conll import Sentence, read_conll
from rnnkit.data.splits import batched, split_indices
from rnnkit.data.tokenizers import WordTokenizer, fit_vocab, tokenizer_from_dict
from rnnkit.errors import RnnkitError
from rnnkit.models.tagger import SequenceTagger, TaggerConfig, token_shape
from rnnkit.scoring.tagging import scores
from rnnkit.tasks.base import Splits, Task, exactly_one_source, register_task
from rnnkit.train.steps import ListBatches, StepOutput

IGNORE = -100  # cross_entropy's ignore_index: padded steps add nothing to the loss
WORD_DROPOUT = 0.1
Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # words, shapes (B, T), lengths (B,), tags (B, T)
# URLs, @mentions, #hashtags, words (with inner apostrophes), single other characters
_TOKEN_RE = re.compile(r"https?://\S+|[@#]\w+|\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Split raw text into tokens the way tweets and CoNLL files usually are."""
    return _TOKEN_RE.findall(text)


def is_bio(tags: set[str]) -> bool:
    return all(t == "O" or (len(t) > 2 and t[:2] in ("B-", "I-")) for t in tags)


@dataclass(kw_only=True)
class TagData(Settings):
    data: str | None = setting(None, "CoNLL file (TOKEN<tab>TAG per line)", metavar="FILE")
    dataset: str | None = setting(None, "named dataset", metavar="NAME")
    val: float = setting(0.1, "validation fraction", lo=0, hi=1, lo_open=True)
    test: float = setting(0.2, "held-out test fraction", lo=0, hi=1, lo_open=True)
    split_seed: int = setting(0, "seed of the train/val/test shuffle", lo=0, hi=2**63 - 1)
    batch_size: int = setting(32, "sentences per step", lo=1, hi=65536)


@register_task
class TagTask(Task):
    name = "tag"
    help = "train a sequence tagger (named entities, parts of speech)"
    description = (
        "Train a bidirectional recurrent tagger on a CoNLL file (TOKEN<tab>TAG per line, a blank "
        "line between sentences) or a named dataset. Prints entity-level precision/recall/F1 "
        "(BIO tags, seqeval) or token accuracy beside the most-frequent-tag baseline."
    )
    Data = TagData
    Model = TaggerConfig
    defaults = {
        "model": {"dropout": 0.3},
        "train": {"epochs": 20, "lr": 3e-3, "eval_every": 50, "patience": 5},
    }
    unit = "tokens"

    tags: list[str] | None = None
    vocab: WordTokenizer | None = None

    @property
    def bio(self) -> bool:
        return is_bio(set(self.tags or []))

    @property
    def monitor(self) -> tuple[str, str]:  # type: ignore[override]
        return ("val_f1" if self.bio else "val_token_accuracy"), "max"

    def prepare(self) -> Splits:
        d = self.data
        loaded, source = exactly_one_source(d.data, d.dataset, self.name)
        sentences: list[Sentence] = loaded or read_conll(d.data)
        if self.tags is None:
            self.tags = sorted({t for _, tg in sentences for t in tg})
            if len(self.tags) < 2:
                raise RnnkitError(
                    f"{source}: every token has the tag {self.tags[0]!r}; need 2+ tags"
                )
        tr, va, te = split_indices(len(sentences), d.val, d.test, d.split_seed)
        train = [sentences[i] for i in tr]
        if self.vocab is None:
            words = (w.lower() for tokens, _ in train for w in tokens)
            self.vocab = WordTokenizer(fit_vocab(words, 10**7), lowercase=True)
            self.model.vocab_size, self.model.num_tags = len(self.vocab), len(self.tags)
        info = {"source": source, "split": {"train": len(tr), "val": len(va), "test": len(te)}}
        return Splits(train, [sentences[i] for i in va], [sentences[i] for i in te], info)

    def artefacts(self) -> dict[str, Any]:
        return {"tokenizer.json": self.vocab.to_dict(), "tags.json": self.tags}

    def restore(self, files: dict[str, Any]) -> None:
        tags = files.get("tags.json")
        if not isinstance(tags, list) or len(tags) < 2:
            raise RnnkitError("tags.json of the run is malformed")
        self.tags = [str(t) for t in tags]
        self.vocab = tokenizer_from_dict(files.get("tokenizer.json", {}))

    def encode(self, tokens: list[str]) -> tuple[list[int], list[int]]:
        return [self.vocab.index.get(w.lower(), 0) for w in tokens], [
            token_shape(w) for w in tokens
        ]

    def make_batches(self, sentences: list[Sentence], batch_size: int) -> tuple[list, list]:
        """Padded batches of sentences of similar length, and the sentence order they follow."""
        tag_ids = {t: i for i, t in enumerate(self.tags)}

        def make(rows: list[Sentence]) -> Batch:
            lengths = torch.tensor([len(tokens) for tokens, _ in rows])  # (B,)
            T = int(lengths.max())
            words = torch.zeros(len(rows), T, dtype=torch.long)  # (B, T)
            shapes = torch.zeros(len(rows), T, dtype=torch.long)  # (B, T)
            tags = torch.full((len(rows), T), IGNORE, dtype=torch.long)  # (B, T)
            for r, (tokens, tg) in enumerate(rows):
                w, s = self.encode(tokens)
                words[r, : len(w)], shapes[r, : len(s)] = torch.tensor(w), torch.tensor(s)
                tags[r, : len(tg)] = torch.tensor([tag_ids.get(t, IGNORE) for t in tg])
            return words, shapes, lengths, tags

        return batched(sentences, batch_size, lambda s: len(s[0]), make)

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int):
        train, _ = self.make_batches(splits.train, self.data.batch_size)
        val, _ = self.make_batches(splits.val, 256)
        return ListBatches(train, seed=seed, rank=rank, world=world), ListBatches(val, False)

    def build_model(self) -> SequenceTagger:
        return SequenceTagger(self.model)

    def loss(self, model: nn.Module, batch: Batch, state: Any) -> StepOutput:
        """Cross-entropy over real tokens. While training, each word is replaced by ``<unk>``
        with probability WORD_DROPOUT, so the ``<unk>`` embedding learns what unseen words
        look like."""
        words, shapes, lengths, tags = batch
        if model.training:
            words = words.masked_fill(
                torch.rand(words.shape, device=words.device) < WORD_DROPOUT, 0
            )
        logits = model(words, shapes, lengths)  # (B, T, K)
        loss = F.cross_entropy(logits.flatten(0, 1), tags.flatten(), ignore_index=IGNORE)
        return StepOutput(loss, int(lengths.sum()))

    @torch.no_grad()
    def predicted_tags(self, model: nn.Module, batches: list[Batch]) -> list[list[str]]:
        """Predicted tags per sentence of ``batches``, in batch order."""
        model.eval()
        device = next(model.parameters()).device
        pred: list[list[str]] = []
        for words, shapes, lengths, _ in batches:
            best = model(words.to(device), shapes.to(device), lengths).argmax(-1).cpu()  # (B, T)
            pred += [[self.tags[k] for k in best[r, :n].tolist()] for r, n in enumerate(lengths)]
        return pred

    def tag_sentences(self, model: nn.Module, token_lists: list[list[str]]) -> list[list[str]]:
        """Predicted tags per sentence, in the order given."""
        sentences = [(tokens, [self.tags[0]] * len(tokens)) for tokens in token_lists]
        batches, order = self.make_batches(sentences, 256)
        out: list[list[str]] = [[] for _ in token_lists]
        for i, tags in zip(order, self.predicted_tags(model, batches), strict=True):
            out[i] = tags
        return out

    def metrics(self, model: nn.Module, val: ListBatches, examples: Any) -> dict[str, float]:
        gold = [
            [self.tags[k] for k in tags[r, :n].tolist()]
            for _, _, lengths, tags in val.batches
            for r, n in enumerate(lengths.tolist())
        ]
        return scores(gold, self.predicted_tags(model, val.batches), self.bio)

    def score(self, model: nn.Module, sentences: list[Sentence]) -> dict[str, Any]:
        gold = [tg for _, tg in sentences]
        return scores(gold, self.tag_sentences(model, [t for t, _ in sentences]), self.bio)

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        gold = [tg for _, tg in splits.test]
        base = baselines.most_frequent_tag(splits.train, [t for t, _ in splits.test])
        return {
            "scheme": "BIO (entity-level, seqeval)" if self.bio else "token accuracy",
            "test": self.score(model, splits.test),
            "baseline": {"name": "most frequent tag per token", **scores(gold, base, self.bio)},
        }

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        t, b = r["test"], r["baseline"]
        cols = ["precision", "recall", "f1", "token_accuracy"] if "f1" in t else ["token_accuracy"]
        return "\n".join(
            [
                f"test split: {r['split']['test']} sentences (train {r['split']['train']}, "
                f"val {r['split']['val']}); scoring: {r['scheme']}",
                f"{'':28s} " + " ".join(f"{c:>14s}" for c in cols),
                f"{'rnnkit tagger':28s} " + " ".join(f"{t[c]:14.4f}" for c in cols),
                f"{'baseline: most frequent tag':28s} " + " ".join(f"{b[c]:14.4f}" for c in cols),
            ]
        )

    def read_examples(self, path: str) -> list[Sentence]:
        return read_conll(path)

    def parse_input(self, text: str) -> str:
        if not tokenize(text):
            raise RnnkitError(f"an input holds no token: {text!r}")
        return text

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        token_lists = [tokenize(t) for t in inputs]
        tagged = self.tag_sentences(model, token_lists)
        return [
            {"text": text, "tokens": [list(p) for p in zip(tokens, tags, strict=True)]}
            for text, tokens, tags in zip(inputs, token_lists, tagged, strict=True)
        ]

    def format_prediction(self, row: dict[str, Any]) -> str:
        return " ".join(f"{w}/{t}" for w, t in row["tokens"])
