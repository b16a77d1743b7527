"""A dialogue model: one speaker's line in, the next speaker's reply out (sequence to
sequence), beside a retrieval baseline that answers with the reply to the most similar
training line (TF-IDF cosine).

Data: the user's (line, reply) pairs (``--data``: a table, or two aligned text files with
``--tgt-file``) or the named ``shakespeare-plays`` (the default: adjacent speeches of two
speakers in 38 plays, split by scene; ``shakespeare-dialogue`` reads the bundled eight).
Figures on the test split: perplexity of the references (the model's own measure; the
retrieval baseline has none), BLEU, and distinct-1/2 (the share of distinct words and word
pairs among all the replies' words and pairs: generic replies such as "I know not" score low).
Validation loss picks the best checkpoint.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit.scoring.bleu import bleu_chrf
from rnnkit.scoring.distinct import distinct
from rnnkit.tasks.base import Splits, register_task
from rnnkit.tasks.text.base import Pair, TextToTextTask
from rnnkit.train.steps import ListBatches


def nearest_replies(train: list[Pair], lines: list[str]) -> list[str]:
    """For each line, the reply to the training line most similar to it (TF-IDF cosine)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(lowercase=True, sublinear_tf=True)
    known = vectorizer.fit_transform([s for s, _ in train])  # (N_train, V), rows L2-normed
    best = (vectorizer.transform(lines) @ known.T).argmax(axis=1).A1  # (N,)
    return [train[i][1] for i in best]


@register_task
class ChatTask(TextToTextTask):
    name = "chat"
    help = "train a dialogue model (default data: shakespeare-plays)"
    description = (
        "Train an attention encoder-decoder to reply to a line: (line, reply) pairs from a "
        ".csv/.tsv/.jsonl table, two aligned text files, or the named shakespeare-plays "
        "(38 plays) or shakespeare-dialogue (the bundled eight). Prints test perplexity, BLEU "
        "and distinct-1/2 beside a TF-IDF retrieval baseline. `rnnkit chat RUN` talks with "
        "the result."
    )
    default_dataset = "shakespeare-plays"
    monitor = ("val_loss", "min")
    defaults = {
        "data": {"max_tokens": 80, "val": 0.05, "test": 0.1},
        "model": {"hidden_size": 256, "embed_dim": 128, "dropout": 0.3},
        "train": {"epochs": 30, "lr": 2e-3, "eval_every": 200, "patience": 5},
    }

    def from_named(self, rows: Any) -> tuple[list[Pair], list[str]]:
        pairs, groups = rows
        return pairs, groups

    def metrics(self, model: nn.Module, val: ListBatches, examples: list[Pair]) -> dict[str, float]:
        return {}  # validation loss decides; decoding every evaluation would only cost time

    def figures(self, outputs: list[str], references: list[str]) -> dict[str, float]:
        return {"bleu": bleu_chrf(outputs, references)["bleu"],
                "distinct1": distinct(outputs, 1), "distinct2": distinct(outputs, 2)}  # fmt: skip

    def baselines(self, model: nn.Module, splits: Splits) -> dict[str, tuple[str, list[str]]]:
        replies = nearest_replies(splits.train, [s for s, _ in splits.test])
        return {"retrieval": ("reply to the nearest training line (TF-IDF)", replies)}

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        result = super().test(model, splits, run_dir)
        result["test"]["perplexity"] = math.exp(self.mean_loss(model, splits.test))
        return result

    def score(self, model: nn.Module, examples: list[Pair]) -> dict[str, Any]:
        return {**super().score(model, examples),
                "perplexity": math.exp(self.mean_loss(model, examples))}  # fmt: skip
