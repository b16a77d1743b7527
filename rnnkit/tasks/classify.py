"""Sequence classification (many-to-one): sentiment and the like, beside TF-IDF + logistic
regression on the same split.

Inputs are texts (word or character tokens) or real-valued feature sequences (a named dataset
such as ``digits-rows``). The run keeps ``tokenizer.json`` (text inputs) and ``labels.json``;
after training, ``results.json`` and ``confusion.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.baselines import classic as baselines
from rnnkit.config import Settings, setting
from rnnkit.data.char_ngrams import NgramHasher, char_windows
from rnnkit.data.splits import batched, split_indices
from rnnkit.data.tables import LabelledSequences, LabelledTexts, read_labelled_texts, read_lines
from rnnkit.data.tokenizers import fit_tokenizer, tokenizer_from_dict
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.encoder_lm import IGNORE, EncoderLM
from rnnkit.plots.confusion import plot_confusion
from rnnkit.scoring.classification import scores
from rnnkit.tasks.base import Pretraining, Splits, Task, exactly_one_source, register_task
from rnnkit.train.steps import ListBatches, StepOutput, to_device

WORD_DROPOUT = 0.1
NGRAM_BUCKETS = 16384  # ngram_buckets at word level when not given; feature sequences: 0
# at char level when not given: n-grams and their bag, chosen on validation accuracy (tweets,
# amazon; docs/tasks.md, issue 31); ngram_bag at word level: off
CHAR_NGRAM_BUCKETS = 16384
CHAR_NGRAM_BAG = True
# pretraining's softmax scores the most frequent ids only (word ids are by frequency): the
# cost of a step stays bounded whatever the vocabulary, and rarer words are not predicted
LM_OUTPUTS = 8192
# inputs: (B, T) ids, (B, T, F) features, or with n-grams (ids (B, T), word index (B, T) into
# the batch's n-gram table (U, K)); then lengths (B,), labels (B,)
Batch = tuple[Tensor | tuple[Tensor, Tensor, Tensor], Tensor, Tensor]


@dataclass(kw_only=True)
class ClassifyData(Settings):
    data: str | None = setting(None, ".csv, .tsv or .jsonl file", metavar="FILE")
    dataset: str | None = setting(None, "named dataset", metavar="NAME")
    text_col: str | None = setting(None, "text column (default: guessed)", metavar="NAME")
    label_col: str | None = setting(None, "label column (default: guessed)", metavar="NAME")
    level: str = setting("word", "token level", choices=("word", "char"))
    vocab_size: int = setting(20000, "word vocabulary cap", lo=2, hi=10**7)
    min_count: int = setting(2, "a word is kept if seen this often in training", lo=1, hi=10**6)
    val: float = setting(0.1, "validation fraction", lo=0, hi=1, lo_open=True)
    test: float = setting(0.1, "held-out test fraction", lo=0, hi=1, lo_open=True)
    split_seed: int = setting(0, "seed of the train/val/test shuffle", lo=0, hi=2**63 - 1)
    batch_size: int | None = setting(
        None, "sequences per step (default: 64, or 32 under 5,000 training examples)",
        lo=1, hi=65536,
    )  # fmt: skip
    pretrain_steps: int = setting(
        0, "first train the encoder as a language model on the training texts (and "
        "--unlabelled) for this many steps, then classify from it (ULMFiT); 0: off",
        lo=0, hi=10**8,
    )  # fmt: skip
    unlabelled: str | None = setting(
        None, "text file, one text per line, that pretraining reads besides the training "
        "texts (needs --pretrain-steps)", metavar="FILE",
    )  # fmt: skip

    def check(self) -> None:
        if self.unlabelled and not self.pretrain_steps:
            raise RnnkitError("unlabelled texts are read by pretraining: give pretrain_steps too")


def lm_loss(model: nn.Module, batch: Batch, state: Any) -> StepOutput:
    """Mean cross-entropy of every next (and, bidirectional, previous) token of the batch's
    texts that the language model scores; its count is the number of those tokens."""
    x, lengths, _ = batch
    ids, ngrams = (x[0], (x[1], x[2])) if isinstance(x, tuple) else (x, None)
    scores, targets = model(ids, lengths, ngrams)  # (N, O), (N,)
    count = int((targets != IGNORE).sum())
    if count == 0:  # every text of the batch is one token long: nothing to predict
        return StepOutput(scores.sum() * 0.0, 0)
    return StepOutput(F.cross_entropy(scores, targets, ignore_index=IGNORE), count)


def text_lower(chars: list[str]) -> list[str]:
    """Each character lowercased, one string per character (``"İ".lower()`` is two)."""
    return [c.lower() for c in chars]


def logits(model: nn.Module, x: Tensor | tuple[Tensor, Tensor, Tensor], lengths: Tensor) -> Tensor:
    """The model on a batch's inputs: ids or features, or ids with their n-gram tables."""
    if isinstance(x, tuple):
        return model(x[0], lengths, (x[1], x[2]))
    return model(x, lengths)


@register_task
class ClassifyTask(Task):
    name = "classify"
    help = "train a sequence classifier (sentiment...)"
    description = (
        "Train a many-to-one classifier on a CSV/TSV/JSONL file with a text and a label column, "
        "or on a named dataset. Prints test accuracy and macro-F1 beside TF-IDF + logistic "
        "regression on the same split, and writes confusion.png."
    )
    Data = ClassifyData
    Model = ClassifierConfig
    defaults = {
        "model": {"bidirectional": True, "pool": "max", "dropout": 0.5},
        # the mean of the 5 best validation checkpoints' weights: +0.2 to +2.3 points of test
        # accuracy on the three sentiment sets over three seeds (docs/tasks.md)
        "train": {"epochs": 30, "lr": 3e-3, "eval_every": 100, "patience": 5, "average": 5},
    }
    absent = {"model": {"ngram_bag": False}}  # runs saved before it had no bag
    monitor = ("val_accuracy", "max")
    unit = "seqs"
    input_settings = ("text_col", "label_col")

    labels: list[str] | None = None
    tokenizer: Any = None
    _hasher: NgramHasher | None = None
    _unlabelled: list[str] | None = None

    # -- data ----------------------------------------------------------------------------------

    def prepare(self) -> Splits:
        d = self.data
        loaded, source = exactly_one_source(d.data, d.dataset, self.name)
        table = loaded or read_labelled_texts(d.data, d.text_col, d.label_col)
        features = isinstance(table, LabelledSequences)
        inputs = list(table.sequences) if features else table.texts
        fitting = self.labels is None  # else restored: resuming, or a loaded run
        if fitting:
            self.labels = sorted(set(table.labels))
            if len(self.labels) < 2:
                raise RnnkitError(f"{source}: every label is {self.labels[0]!r}; need 2+ classes")
        tr, va, te = split_indices(len(inputs), d.val, d.test, d.split_seed)
        self.resolve_ngrams(fitting, None if features else d.level)
        if fitting:  # vocabulary and input size from the training split only
            if features:
                self.model.input_size = int(inputs[0].shape[-1])
            else:
                self.tokenizer = fit_tokenizer(
                    [inputs[i] for i in tr], d.level, d.vocab_size, d.min_count, lowercase=True
                )
                self.model.vocab_size = len(self.tokenizer)
            self.model.num_classes = len(self.labels)

        def part(idx: list[int]) -> tuple[list, list[str]]:
            return [inputs[i] for i in idx], [table.labels[i] for i in idx]

        if d.pretrain_steps:  # what pretraining cannot do fails before a file is written
            self.pretrainable(features)
            if fitting and d.unlabelled:
                self._unlabelled = read_lines(d.unlabelled)
        info = {
            "source": source,
            "split": {"train": len(tr), "val": len(va), "test": len(te)},
            "skipped_rows": table.skipped,
        }
        return Splits(part(tr), part(va), part(te), info)

    def resolve_ngrams(self, fitting: bool, level: str | None) -> None:
        """Settle ``ngram_buckets`` for text of ``level`` (None: feature sequences): unset means
        NGRAM_BUCKETS for a new word-level run, CHAR_NGRAM_BUCKETS for a new char-level one,
        and off for feature sequences and a run saved before the setting existed (its config
        lacks the key); set above 0 on feature sequences, it is refused. ``ngram_bag`` unset:
        CHAR_NGRAM_BAG for a new char-level run with n-grams, else off."""
        m = self.model
        if m.ngram_buckets is None:
            default = {"word": NGRAM_BUCKETS, "char": CHAR_NGRAM_BUCKETS}.get(level, 0)
            m.ngram_buckets = default if fitting else 0
        elif m.ngram_buckets and level is None:
            raise RnnkitError(
                "ngram_buckets needs text (level word or char); set it to 0 for feature sequences"
            )
        if m.ngram_bag is None:  # the same for the bag beside the encoder
            m.ngram_bag = bool(fitting and level == "char" and CHAR_NGRAM_BAG and m.ngram_buckets)

    @property
    def hasher(self) -> NgramHasher | None:
        """The n-gram hasher when this run adds n-grams (one per task: it keeps the hashes)."""
        buckets = self.model.ngram_buckets or 0
        if not buckets:
            return None
        if self._hasher is None or self._hasher.buckets != buckets:
            self._hasher = NgramHasher(buckets, self.tokenizer.level)
        return self._hasher

    def tokens(self, text: str) -> tuple[list[int], list[str]]:
        """(ids, the strings the n-grams come from), one each per step: the words (word
        level), or each kept character's window of the characters up to it, lowercased as
        the TF-IDF baseline reads them (char level; characters outside the vocabulary are
        dropped, as ``encode`` drops them). A text with no token gives ``([0], [])``."""
        tok = self.tokenizer
        if tok.level == "char":
            chars = [c for c in text if c in tok.index]
            return [tok.index[c] for c in chars] or [0], char_windows(text_lower(chars))
        return tok.encode(text) or [0], tok.tokenize(text)

    def artefacts(self) -> dict[str, Any]:
        files = {"labels.json": self.labels}
        if self.tokenizer is not None:
            files["tokenizer.json"] = self.tokenizer.to_dict()
        return files

    def restore(self, files: dict[str, Any]) -> None:
        labels = files.get("labels.json")
        if not isinstance(labels, list) or len(labels) < 2:
            raise RnnkitError("labels.json of the run is malformed")
        self.labels = [str(x) for x in labels]
        if "tokenizer.json" in files:
            self.tokenizer = tokenizer_from_dict(files["tokenizer.json"])

    def encode(self, inputs: list) -> list:
        """Token ids per text (a text with no token becomes one id-0 token), or the feature
        sequences as they are."""
        if self.tokenizer is None:
            return inputs
        return [self.tokenizer.encode(t, strict=False) or [0] for t in inputs]

    def make_batches(self, inputs: list, labels: list[int], batch_size: int) -> tuple[list, list]:
        """Padded batches of similar lengths and the input order they follow. With n-grams a
        row is (ids, tokens): the n-grams come from each token's string (``tokens``), so two
        words outside the vocabulary (both ``<unk>``) still differ."""
        hasher = self.hasher
        if hasher is None:
            rows = list(zip(self.encode(inputs), labels, strict=True))
        else:
            rows = [(self.tokens(text), y) for text, y in zip(inputs, labels, strict=True)]

        def make(rows: list[tuple[Any, int]]) -> Batch:
            seqs = [x if hasher is None else x[0] for x, _ in rows]
            lengths = torch.tensor([len(s) for s in seqs])  # (B,)
            if isinstance(seqs[0], np.ndarray):
                x = torch.zeros(len(rows), int(lengths.max()), seqs[0].shape[-1])  # (B, T, F)
            else:
                x = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)  # (B, T)
            for r, seq in enumerate(seqs):
                x[r, : len(seq)] = torch.as_tensor(seq)
            if hasher is not None:
                words = [row[0][1] for row in rows]
                x = (x, *hasher.batch(words, x.shape[1]))  # ids, word index, n-gram table
            return x, lengths, torch.tensor([y for _, y in rows])

        return batched(rows, batch_size, lambda row: len(row[0] if hasher is None else row[0][0]),
                       make)  # fmt: skip

    def label_ids(self, labels: list[str]) -> list[int]:
        index = {lab: i for i, lab in enumerate(self.labels)}
        unknown = sorted({lab for lab in labels if lab not in index})
        if unknown:
            raise RnnkitError(f"labels the model never saw: {', '.join(map(repr, unknown[:5]))}")
        return [index[lab] for lab in labels]

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int):
        (x_tr, y_tr), (x_va, y_va) = splits.train, splits.val
        size = self.data.batch_size or (32 if len(x_tr) < 5000 else 64)
        train, _ = self.make_batches(x_tr, self.label_ids(y_tr), size)
        val, _ = self.make_batches(x_va, self.label_ids(y_va), 256)
        return ListBatches(train, seed=seed, rank=rank, world=world), ListBatches(val, False)

    # -- pretraining (ULMFiT) ------------------------------------------------------------------

    def pretraining(self, splits: Splits) -> Pretraining | None:
        """With ``pretrain_steps``: the encoder as a language model (``EncoderLM``) over the
        training texts and the unlabelled ones, validated on the validation texts, all cut
        into batches as the classifier's are (same tokens, same n-grams)."""
        d = self.data
        if not d.pretrain_steps:
            return None
        self.pretrainable(self.tokenizer is None)
        outputs = min(LM_OUTPUTS, self.model.vocab_size)
        texts = list(splits.train[0])
        if d.unlabelled:
            texts += self._unlabelled if self._unlabelled is not None else read_lines(d.unlabelled)

        def batches(seed: int) -> tuple[ListBatches, ListBatches]:
            size = d.batch_size or (32 if len(splits.train[0]) < 5000 else 64)
            train, _ = self.make_batches(texts, [0] * len(texts), size)
            val, _ = self.make_batches(splits.val[0], [0] * len(splits.val[0]), 256)
            return ListBatches(train, seed=seed), ListBatches(val, False)

        return Pretraining(
            name="pretrain", build=lambda: EncoderLM(self.model, outputs), loss=lm_loss,
            batches=batches, steps=d.pretrain_steps,
        )  # fmt: skip

    def pretrainable(self, features: bool) -> None:
        """Refuse, in one line, a model that cannot be read as a language model."""
        if features:
            raise RnnkitError("pretrain_steps needs text (level word or char), not feature "
                              "sequences")  # fmt: skip
        m = self.model
        if m.bidirectional and m.num_layers > 1:
            raise RnnkitError(
                "pretrain_steps with a bidirectional encoder needs num_layers 1 (a second "
                "layer's forward direction reads states that have seen its targets)"
            )

    def start_from(self, model: nn.Module, weights: dict[str, Any]) -> None:
        """The pretrained encoder's embedding, n-grams and recurrent layers; the classifier's
        own output layer keeps its fresh initialisation."""
        prefix = "encoder."
        mine = {k[len(prefix) :]: v for k, v in weights.items()
                if k.startswith(prefix) and not k.startswith(prefix + "head.")}  # fmt: skip
        try:
            missing, unexpected = model.load_state_dict(mine, strict=False)
        except RuntimeError:  # a tensor of another shape
            missing, unexpected = [], ["?"]
        if unexpected or any(not k.startswith("head.") for k in missing):
            raise RnnkitError("the pretrained weights do not fit the classifier")

    # -- training ------------------------------------------------------------------------------

    def build_model(self) -> SequenceClassifier:
        return SequenceClassifier(self.model)

    def loss(self, model: nn.Module, batch: Batch, state: Any) -> StepOutput:
        """Cross-entropy per sequence. While training on token ids, each token is replaced by id
        0 (``<unk>`` for words) with probability WORD_DROPOUT, its n-grams too: no single word
        decides alone."""
        x, lengths, y = batch
        ids = x[0] if isinstance(x, tuple) else x
        if model.training and not ids.is_floating_point():
            drop = torch.rand(ids.shape, device=ids.device) < WORD_DROPOUT
            if isinstance(x, tuple):
                x = (ids.masked_fill(drop, 0), x[1].masked_fill(drop, 0), x[2])
            else:
                x = x.masked_fill(drop, 0)
        return StepOutput(F.cross_entropy(logits(model, x, lengths), y), len(y))

    def metrics(self, model: nn.Module, val: ListBatches, examples: Any) -> dict[str, float]:
        probs, y = self.probabilities(model, val.batches)
        return scores(y, probs.argmax(1))

    @torch.no_grad()
    def probabilities(self, model: nn.Module, batches: list[Batch]) -> tuple[np.ndarray, ...]:
        """(probabilities (N, C), label ids (N,)) over ``batches`` in batch order."""
        model.eval()
        device = next(model.parameters()).device
        probs, ys = [], []
        for x, lengths, y in batches:
            probs.append(torch.softmax(logits(model, to_device(x, device), lengths), -1).cpu())
            ys.append(y)
        return torch.cat(probs).numpy(), torch.cat(ys).numpy()

    def predicted(self, model: nn.Module, inputs: list) -> np.ndarray:
        """(N, C) probabilities in the order of ``inputs``."""
        batches, order = self.make_batches(inputs, [0] * len(inputs), 256)
        probs = np.empty((len(inputs), len(self.labels)), dtype=np.float32)
        probs[order] = self.probabilities(model, batches)[0]
        return probs

    # -- testing and use -----------------------------------------------------------------------

    def score(self, model: nn.Module, examples: tuple[list, list[str]]) -> dict[str, Any]:
        inputs, labels = examples
        self.label_ids(labels)  # refuses labels the model cannot name
        pred = self.predicted(model, inputs).argmax(1)
        return {"examples": len(labels), **scores(labels, [self.labels[i] for i in pred])}

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        (x_tr, y_tr), (x_te, y_te) = splits.train, splits.test
        pred = [self.labels[i] for i in self.predicted(model, x_te).argmax(1)]
        if self.tokenizer is None:
            base = baselines.flat_logreg(x_tr, y_tr, x_te)
            name = "logistic regression on flattened sequences (scikit-learn)"
        else:
            base = baselines.tfidf_logreg(x_tr, y_tr, x_te, self.data.level)
            name = "TF-IDF + logistic regression (scikit-learn)"
        plot_confusion(y_te, pred, self.labels, run_dir / "confusion.png")
        return {
            "test": {"examples": len(y_te), **scores(y_te, pred)},
            "baseline": {"name": name, **scores(y_te, base)},
            "confusion_png": str(run_dir / "confusion.png"),
        }

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        t, b = r["test"], r["baseline"]
        base = "baseline: " + b["name"]
        w = max(28, len(base))  # a row's name is never cut
        return "\n".join(
            [
                f"test split: {r['split']['test']} examples (train {r['split']['train']}, "
                f"val {r['split']['val']})",
                f"{'':{w}s} {'accuracy':>9s} {'macro-F1':>9s}",
                f"{'rnnkit classifier':{w}s} {t['accuracy']:9.4f} {t['macro_f1']:9.4f}",
                f"{base:{w}s} {b['accuracy']:9.4f} {b['macro_f1']:9.4f}",
                f"confusion matrix: {r['confusion_png']}",
            ]
            + (
                [f"skipped {r['skipped_rows']} rows with an empty text or label"]
                if r.get("skipped_rows")
                else []
            )
            + (
                [
                    f"encoder pretrained as a language model: {p['steps']} steps in "
                    f"{p['seconds']:.0f} s (best validation loss {p['best_value']:.4f})"
                ]
                if (p := r.get("pretraining")) and p.get("best_value") is not None
                else []
            )  # fmt: skip
        )

    def read_examples(self, path: str) -> tuple[list, list[str]]:
        if self.tokenizer is None:
            raise RnnkitError("this run classifies feature sequences; only text files can be read")
        table: LabelledTexts = read_labelled_texts(path, self.data.text_col, self.data.label_col)
        return table.texts, table.labels

    def parse_input(self, text: str) -> str:
        if not text.strip():
            raise RnnkitError("an input is empty")
        return text

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        if self.tokenizer is None:
            raise RnnkitError("this run classifies feature sequences, not text")
        rows = []
        for text, p in zip(inputs, self.predicted(model, inputs), strict=True):
            k = int(p.argmax())
            probs = {lab: round(float(v), 4) for lab, v in zip(self.labels, p, strict=True)}
            rows.append({"text": text, "label": self.labels[k], "probability": float(p[k]),
                         "probabilities": probs})  # fmt: skip
        return rows

    def format_prediction(self, row: dict[str, Any]) -> str:
        return f"{row['label']}\t{row['probability']:.3f}\t{row['text']}"
