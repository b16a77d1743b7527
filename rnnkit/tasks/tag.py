"""Sequence tagging (many-to-many, aligned): train, evaluate against most-frequent-tag, predict.

Scores: for BIO/IOB2 tag sets (every tag ``O`` or ``B-x``/``I-x``), entity-level precision,
recall and F1 from seqeval (an entity counts only when its type and both ends are right);
for other tag sets, token accuracy. Token accuracy is reported in both cases.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.conll import Sentence, read_conll
from rnnkit.data.tokenizers import UNK, WordTokenizer
from rnnkit.errors import RnnkitError
from rnnkit.models.tagger import SequenceTagger, TaggerConfig, token_shape
from rnnkit.tasks import baselines
from rnnkit.tasks.classify import split_indices
from rnnkit.train import ListBatches, StepOutput, TrainConfig, Trainer
from rnnkit.train import checkpoint as ckpt

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


def scores(gold: list[list[str]], pred: list[list[str]], bio: bool) -> dict[str, float]:
    pairs = [(g, p) for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)]
    out = {"token_accuracy": sum(g == p for g, p in pairs) / max(len(pairs), 1)}
    if bio:
        from seqeval.metrics import f1_score, precision_score, recall_score

        out["precision"] = float(precision_score(gold, pred, zero_division=0))
        out["recall"] = float(recall_score(gold, pred, zero_division=0))
        out["f1"] = float(f1_score(gold, pred, zero_division=0))
    return out


def fit_vocab(sentences: list[Sentence], min_count: int = 1) -> WordTokenizer:
    counts = Counter(w.lower() for tokens, _ in sentences for w in tokens)
    words = [w for w, c in counts.most_common() if c >= min_count and w != UNK]
    return WordTokenizer([UNK, *words], lowercase=True)


def encode(vocab: WordTokenizer, tokens: list[str]) -> tuple[list[int], list[int]]:
    return [vocab.index.get(w.lower(), 0) for w in tokens], [token_shape(w) for w in tokens]


def make_batches(vocab, sentences: list[Sentence], tag_ids: dict, batch_size: int) -> list[Batch]:
    """Padded batches of sentences of similar length, in length order."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i][0]))
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        lengths = torch.tensor([len(sentences[i][0]) for i in idx])  # (B,)
        T = int(lengths.max())
        words = torch.zeros(len(idx), T, dtype=torch.long)  # (B, T)
        shapes = torch.zeros(len(idx), T, dtype=torch.long)  # (B, T)
        tags = torch.full((len(idx), T), IGNORE, dtype=torch.long)  # (B, T)
        for r, i in enumerate(idx):
            tokens, tg = sentences[i]
            w, s = encode(vocab, tokens)
            words[r, : len(w)], shapes[r, : len(s)] = torch.tensor(w), torch.tensor(s)
            tags[r, : len(tg)] = torch.tensor([tag_ids.get(t, 0) for t in tg])
        batches.append((words, shapes, lengths, tags))
    return batches


def loss_fn(model: nn.Module, batch: Batch, state: Any) -> StepOutput:
    """Cross-entropy over real tokens. While training, each word is replaced by ``<unk>`` with
    probability WORD_DROPOUT, so the ``<unk>`` embedding learns what unseen words look like."""
    words, shapes, lengths, tags = batch
    if model.training:
        words = words.masked_fill(torch.rand(words.shape) < WORD_DROPOUT, 0)
    logits = model(words, shapes, lengths)  # (B, T, K)
    loss = F.cross_entropy(logits.flatten(0, 1), tags.flatten(), ignore_index=IGNORE)
    return StepOutput(loss, int(lengths.sum()))


@torch.no_grad()
def predict_batches(model: SequenceTagger, batches: list[Batch], tags: list[str]):
    """(gold, predicted) tag lists per sentence, in batch order."""
    model.eval()
    gold, pred = [], []
    for words, shapes, lengths, t in batches:
        best = model(words, shapes, lengths).argmax(-1)  # (B, T)
        for r, n in enumerate(lengths.tolist()):
            gold.append([tags[k] for k in t[r, :n].tolist()])
            pred.append([tags[k] for k in best[r, :n].tolist()])
    return gold, pred


def train_tagger(
    sentences: list[Sentence],
    out_dir: str | Path,
    *,
    source: str = "data",
    model_config: dict | None = None,
    train_config: TrainConfig | None = None,
    batch_size: int = 32,
    val: float = 0.1,
    test: float = 0.2,
    resume: bool = False,
) -> dict[str, Any]:
    """Train a SequenceTagger, keep the best by validation F1 (or token accuracy), and score it
    and the most-frequent-tag baseline on the held-out test split."""
    tag_set = sorted({t for _, tg in sentences for t in tg})
    if len(tag_set) < 2:
        raise RnnkitError(f"{source}: every token has the tag {tag_set[0]!r}; need 2+ tags")
    bio = is_bio(set(tag_set))
    tc = train_config or TrainConfig(epochs=20, eval_every=100, patience=5)
    tc.monitor, tc.mode = ("val_f1" if bio else "val_token_accuracy"), "max"
    tr, va, te = split_indices(len(sentences), val, test, tc.seed)
    if not va:
        raise RnnkitError("--val must leave at least one sentence for validation")
    train_s = [sentences[i] for i in tr]
    vocab = fit_vocab(train_s)
    tag_ids = {t: i for i, t in enumerate(tag_set)}
    mc = TaggerConfig(len(vocab), len(tag_set))
    mc = TaggerConfig.from_dict({**mc.to_dict(), **(model_config or {})})
    torch.manual_seed(tc.seed)
    model = SequenceTagger(mc)
    train_b = make_batches(vocab, train_s, tag_ids, batch_size)
    val_b = make_batches(vocab, [sentences[i] for i in va], tag_ids, batch_size)
    test_s = [sentences[i] for i in te]
    test_b = make_batches(vocab, test_s, tag_ids, batch_size)

    def metrics_fn(m, src) -> dict:
        return scores(*predict_batches(m, src.batches, tag_set), bio)

    out = ckpt.prepare_run_dir(out_dir, "tag", resume)
    if not resume:
        config = {"task": "tag", "model": mc.to_dict(), "tags": tag_set, "bio": bio,
                  "source": source, "train": asdict(tc)}  # fmt: skip
        ckpt.atomic_write_json(out / "config.json", config)
        ckpt.atomic_write_json(out / "tokenizer.json", vocab.to_dict())
    trainer = Trainer(
        model, loss_fn, ListBatches(train_b, seed=tc.seed), ListBatches(val_b, shuffle=False),
        config=tc, out_dir=out, metrics_fn=metrics_fn, resume=resume, unit="tokens",
    )  # fmt: skip
    summary = trainer.fit()
    model.load_state_dict(ckpt.load_weights(ckpt.resolve_checkpoint(out)))
    gold, pred = predict_batches(model, test_b, tag_set)
    # batches are in length order: put the baseline's test sentences in the same order
    test_sorted = sorted(test_s, key=lambda s: len(s[0]))
    base = baselines.most_frequent_tag(train_s, [tokens for tokens, _ in test_sorted])
    results = {
        "task": "tag",
        "source": source,
        "split": {"train": len(tr), "val": len(va), "test": len(te)},
        "scheme": "BIO (entity-level, seqeval)" if bio else "token accuracy",
        "test": scores(gold, pred, bio),
        "baseline": {"name": "most frequent tag per token", **scores(gold, base, bio)},
        "training": {k: summary[k] for k in ("steps", "elapsed_s", "stop_reason", "best_step")},
    }
    ckpt.atomic_write_json(out / "results.json", results)
    return results


def load_data(data: str | None, dataset: str | None) -> tuple[list[Sentence], str]:
    if (data is None) == (dataset is None):
        raise RnnkitError("give exactly one of --data FILE or --dataset NAME")
    if dataset is not None:
        from rnnkit.data import named

        return named.get(dataset, "tag").load(), dataset
    return read_conll(data), str(data)


class LoadedTagger:
    """A trained tagger from a run directory, ready to tag new text."""

    def __init__(self, run_dir: str | Path):
        run_dir = Path(run_dir)
        path = ckpt.resolve_checkpoint(run_dir)
        self.config = ckpt.read_json(run_dir / "config.json", "model config")
        self.tags = self.config["tags"]
        tok = ckpt.read_json(run_dir / "tokenizer.json", "tokenizer")
        self.vocab = WordTokenizer(tok["vocab"], lowercase=True)
        self.model = SequenceTagger(TaggerConfig.from_dict(self.config["model"]))
        self.model.load_state_dict(ckpt.load_weights(path))
        self.model.eval()

    @torch.no_grad()
    def predict(self, texts: list[str]) -> list[dict]:
        """[{text, tokens: [[token, tag], ...]}] in the order of ``texts``."""
        out = []
        for text in texts:
            tokens = tokenize(text)
            if not tokens:
                out.append({"text": text, "tokens": []})
                continue
            w, s = encode(self.vocab, tokens)
            logits = self.model(torch.tensor([w]), torch.tensor([s]), torch.tensor([len(w)]))
            tags = [self.tags[k] for k in logits[0].argmax(-1).tolist()]
            out.append({"text": text, "tokens": [list(p) for p in zip(tokens, tags, strict=True)]})
        return out


def format_results(r: dict) -> str:
    t, b = r["test"], r["baseline"]
    cols = ["precision", "recall", "f1", "token_accuracy"] if "f1" in t else ["token_accuracy"]
    lines = [
        f"test split: {r['split']['test']} sentences (train {r['split']['train']}, "
        f"val {r['split']['val']}); scoring: {r['scheme']}",
        f"{'':28s} " + " ".join(f"{c:>14s}" for c in cols),
        f"{'rnnkit tagger':28s} " + " ".join(f"{t[c]:14.4f}" for c in cols),
        f"{'baseline: most frequent tag':28s} " + " ".join(f"{b[c]:14.4f}" for c in cols),
    ]
    return "\n".join(lines)
