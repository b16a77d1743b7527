"""Sequence classification (many-to-one): train, evaluate against TF-IDF + logistic regression,
predict.

A run directory holds what ``rnnkit predict`` needs: ``config.json`` (task, model config,
labels, input level), ``tokenizer.json`` (text inputs), the Trainer's checkpoints, and after
training ``results.json`` (test figures beside the baseline's) and ``confusion.png``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.tables import LabelledSequences, LabelledTexts, read_labelled_texts
from rnnkit.data.tokenizers import UNK, CharTokenizer, WordTokenizer, tokenizer_from_dict
from rnnkit.errors import RnnkitError
from rnnkit.files import save_figure
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks import baselines
from rnnkit.train import ListBatches, StepOutput, TrainConfig, Trainer
from rnnkit.train import checkpoint as ckpt

Batch = tuple[Tensor, Tensor, Tensor]  # inputs (B, T) or (B, T, F), lengths (B,), labels (B,)
WORD_DROPOUT = 0.1


def split_indices(n: int, val: float, test: float, seed: int) -> tuple[list, list, list]:
    """A seeded shuffle of range(n) cut into train / validation / test index lists."""
    if not (0 < test < 1 and 0 <= val < 1 and val + test < 1):
        raise RnnkitError("--val and --test must be fractions with val + test < 1")
    order = np.random.default_rng(seed).permutation(n).tolist()
    n_test, n_val = max(1, round(n * test)), round(n * val)
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def fit_tokenizer(texts: list[str], level: str, max_vocab: int, min_count: int = 2):
    """Char tokenizer of every character seen, or a lowercased word vocabulary of words seen at
    least ``min_count`` times (so ``<unk>`` is learned from the rare ones)."""
    if level == "char":
        return CharTokenizer.fit("".join(texts))
    if level != "word":
        raise RnnkitError(f"--level must be word or char, got {level!r}")
    splitter = WordTokenizer([UNK], lowercase=True)
    counts = Counter(w for t in texts for w in splitter.tokenize(t))
    words = [w for w, c in counts.most_common(max_vocab - 1) if c >= min_count and w != UNK]
    return WordTokenizer([UNK, *words], lowercase=True)


def encode_texts(tokenizer, texts: list[str]) -> list[list[int]]:
    """Ids per text; a text with no known token becomes one ``<unk>``/first id (length >= 1)."""
    return [tokenizer.encode(t, strict=False) or [0] for t in texts]


def make_batches(inputs: list, labels: list[int], batch_size: int) -> list[Batch]:
    """Batches of similar lengths (sorted, then cut), padded with zeros."""
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        lengths = torch.tensor([len(inputs[i]) for i in idx])  # (B,)
        first = inputs[idx[0]]
        if isinstance(first, np.ndarray):
            x = torch.zeros(len(idx), int(lengths.max()), first.shape[-1])  # (B, T, F)
            for r, i in enumerate(idx):
                x[r, : len(inputs[i])] = torch.as_tensor(inputs[i])
        else:
            x = torch.zeros(len(idx), int(lengths.max()), dtype=torch.long)  # (B, T)
            for r, i in enumerate(idx):
                x[r, : len(inputs[i])] = torch.tensor(inputs[i])
        batches.append((x, lengths, torch.tensor([labels[i] for i in idx])))
    return batches


def loss_fn(model: nn.Module, batch: Batch, state: Any) -> StepOutput:
    """Cross-entropy per sequence. While training on token ids, each token is replaced by id 0
    (``<unk>`` for words) with probability WORD_DROPOUT: no single word can decide alone."""
    x, lengths, y = batch
    if model.training and not x.is_floating_point():
        x = x.masked_fill(torch.rand(x.shape) < WORD_DROPOUT, 0)
    return StepOutput(F.cross_entropy(model(x, lengths), y), len(y))


@torch.no_grad()
def predict_proba(model: SequenceClassifier, batches: list[Batch]) -> tuple[np.ndarray, ...]:
    """(probabilities (N, C), true labels (N,)) over ``batches`` in order."""
    model.eval()
    probs, ys = [], []
    for x, lengths, y in batches:
        probs.append(torch.softmax(model(x, lengths), -1))
        ys.append(y)
    return torch.cat(probs).numpy(), torch.cat(ys).numpy()


def scores(y_true, y_pred) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
    }


def plot_confusion(y_true, y_pred, labels: list[str], path: Path) -> None:
    """Confusion-matrix PNG (rows: true label, columns: predicted), written atomically."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(labels), 1 + 0.6 * len(labels)))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=list(range(len(labels))), display_labels=labels, ax=ax,
        colorbar=False, cmap="Blues",
    )  # fmt: skip
    ax.set_title("test confusion matrix")
    fig.tight_layout()
    save_figure(fig, path)


def check_labels(labels: list[str], source: str) -> list[str]:
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise RnnkitError(f"{source}: the label column holds one class ({classes[0]!r}); need 2+")
    return classes


def train_classifier(
    data: LabelledTexts | LabelledSequences,
    out_dir: str | Path,
    *,
    source: str = "data",
    level: str = "word",
    model_config: dict | None = None,
    train_config: TrainConfig | None = None,
    batch_size: int | None = None,
    max_vocab: int = 20000,
    val: float = 0.1,
    test: float = 0.1,
    resume: bool = False,
) -> dict[str, Any]:
    """Train a SequenceClassifier on ``data``, keep the best by validation accuracy, and score
    it and the baseline on the held-out test split. Returns the results (also in results.json)."""
    tc = train_config or TrainConfig(epochs=10, eval_every=100, patience=4)
    tc.monitor, tc.mode = "val_accuracy", "max"
    features = isinstance(data, LabelledSequences)
    inputs_raw = data.sequences if features else data.texts
    classes = check_labels(data.labels, source)
    y_all = [classes.index(y) for y in data.labels]
    tr, va, te = split_indices(len(y_all), val, test, tc.seed)
    if not va:
        raise RnnkitError("--val must leave at least one example for validation")
    # small sets get smaller batches, hence more updates in the same number of epochs
    batch_size = batch_size or (32 if len(tr) < 5000 else 64)
    tokenizer = None
    if features:
        inputs = list(inputs_raw)
        mc = ClassifierConfig(len(classes), input_size=int(inputs[0].shape[-1]))
    else:
        tokenizer = fit_tokenizer([inputs_raw[i] for i in tr], level, max_vocab)
        inputs = encode_texts(tokenizer, inputs_raw)
        mc = ClassifierConfig(len(classes), vocab_size=len(tokenizer))
    mc = ClassifierConfig.from_dict({**mc.to_dict(), **(model_config or {})})
    torch.manual_seed(tc.seed)
    model = SequenceClassifier(mc)

    def part(idx):
        return make_batches([inputs[i] for i in idx], [y_all[i] for i in idx], batch_size)

    train_b, val_b, test_b = part(tr), part(va), part(te)

    def metrics_fn(m, src) -> dict:
        p, y = predict_proba(m, src.batches)
        return scores(y, p.argmax(1))

    out = ckpt.prepare_run_dir(out_dir, "classify", resume)
    config = {
        "task": "classify",
        "model": mc.to_dict(),
        "labels": classes,
        "input": "features" if features else "text",
        "level": None if features else level,
        "source": source,
        "train": asdict(tc),
    }
    if not resume:
        ckpt.atomic_write_json(out / "config.json", config)
        if tokenizer is not None:
            ckpt.atomic_write_json(out / "tokenizer.json", tokenizer.to_dict())
    trainer = Trainer(
        model, loss_fn, ListBatches(train_b, seed=tc.seed), ListBatches(val_b, shuffle=False),
        config=tc, out_dir=out, metrics_fn=metrics_fn, resume=resume, unit="seqs",
    )  # fmt: skip
    summary = trainer.fit()
    model.load_state_dict(ckpt.load_weights(ckpt.resolve_checkpoint(out)))
    probs, y_true = predict_proba(model, test_b)
    y_pred = probs.argmax(1)
    y_true_l = [classes[i] for i in y_true]
    if features:
        base = baselines.flat_logreg(
            [inputs[i] for i in tr], [data.labels[i] for i in tr], [inputs[i] for i in te]
        )
        base_name = "logistic regression on flattened sequences (scikit-learn)"
    else:
        base = baselines.tfidf_logreg(
            [inputs_raw[i] for i in tr], [data.labels[i] for i in tr],
            [inputs_raw[i] for i in te], level,
        )  # fmt: skip
        base_name = "TF-IDF + logistic regression (scikit-learn)"
    # the baseline's predictions follow `te` order; the model's follow the batches' length order
    te_sorted = [te[i] for i in sorted(range(len(te)), key=lambda i: len(inputs[te[i]]))]
    base_by_index = dict(zip(te, base, strict=True))
    base_sorted = [base_by_index[i] for i in te_sorted]
    plot_confusion(y_true, y_pred, classes, out / "confusion.png")
    results = {
        "task": "classify",
        "source": source,
        "split": {"train": len(tr), "val": len(va), "test": len(te)},
        "skipped_rows": data.skipped,
        "test": scores(y_true_l, [classes[i] for i in y_pred]),
        "baseline": {"name": base_name, **scores(y_true_l, base_sorted)},
        "training": {k: summary[k] for k in ("steps", "elapsed_s", "stop_reason", "best_step")},
        "confusion_png": str(out / "confusion.png"),
    }
    ckpt.atomic_write_json(out / "results.json", results)
    return results


def load_data(data: str | None, dataset: str | None, text_col, label_col):
    """(data, source name) from a user file or a named dataset; exactly one must be given."""
    if (data is None) == (dataset is None):
        raise RnnkitError("give exactly one of --data FILE or --dataset NAME")
    if dataset is not None:
        from rnnkit.data import named

        return named.get(dataset, "classify").load(), dataset
    return read_labelled_texts(data, text_col, label_col), str(data)


class LoadedClassifier:
    """A trained classifier from a run directory, ready to label new texts."""

    def __init__(self, run_dir: str | Path):
        run_dir = Path(run_dir)
        path = ckpt.resolve_checkpoint(run_dir)
        self.config = ckpt.read_json(run_dir / "config.json", "model config")
        if self.config.get("input") != "text":
            raise RnnkitError(f"{run_dir} classifies feature sequences, not text")
        self.labels = self.config["labels"]
        tok = ckpt.read_json(run_dir / "tokenizer.json", "tokenizer")
        self.tokenizer = tokenizer_from_dict(tok)
        self.model = SequenceClassifier(ClassifierConfig.from_dict(self.config["model"]))
        self.model.load_state_dict(ckpt.load_weights(path))
        self.model.eval()

    @torch.no_grad()
    def predict(self, texts: list[str]) -> list[dict]:
        """[{text, label, probability, probabilities}] in the order of ``texts``."""
        ids = encode_texts(self.tokenizer, texts)
        out = []
        for i, t in enumerate(texts):
            x = torch.tensor([ids[i]])  # (1, T)
            p = torch.softmax(self.model(x, torch.tensor([len(ids[i])])), -1)[0]  # (C,)
            k = int(p.argmax())
            probs = {lab: round(float(v), 4) for lab, v in zip(self.labels, p, strict=True)}
            out.append({"text": t, "label": self.labels[k], "probability": float(p[k]),
                        "probabilities": probs})  # fmt: skip
        return out


def format_results(r: dict) -> str:
    t, b = r["test"], r["baseline"]
    lines = [
        f"test split: {r['split']['test']} examples (train {r['split']['train']}, "
        f"val {r['split']['val']})",
        f"{'':28s} {'accuracy':>9s} {'macro-F1':>9s}",
        f"{'rnnkit classifier':28s} {t['accuracy']:9.4f} {t['macro_f1']:9.4f}",
        f"{'baseline: ' + b['name'][:18]:28s} {b['accuracy']:9.4f} {b['macro_f1']:9.4f}",
        f"confusion matrix: {r['confusion_png']}",
    ]
    return "\n".join(lines)


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2)
