"""Summarization: a document in, a one-line summary out (sequence to sequence), beside the
document's first eight words (the lead baseline) on the same split.

Data: the user's (document, summary) pairs (``--data``: a table, or two aligned text files with
``--tgt-file``) or the named ``debian-synopsis`` (the default: Debian packages' long
descriptions and their synopses, split by source package). Scores: ROUGE-1, ROUGE-2 and
ROUGE-L F-measures (Google's ``rouge-score``, Porter stemming, 0-100); ROUGE-L on the
validation split picks the best checkpoint. The run writes ``rougeL_curve.png`` and
``attention.png`` like every text-to-text task.

Defaults differ from translation's in two ways, both measured on ``debian-synopsis``: one
vocabulary for both sides (a synopsis mostly reuses the description's words, and copy
attention copies them piece for piece: ROUGE-L 36.19 against 29.95 with two vocabularies, 20
minutes each) and reading only the first 48 source tokens (the opening carries the synopsis;
training steps are about three times quicker than over whole descriptions).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.scoring.rouge import rouge
from rnnkit.tasks.base import Splits, register_task
from rnnkit.tasks.text.base import Pair, TextToTextTask
from rnnkit.tasks.writing import Baseline

LEAD_WORDS = 8


@register_task
class SummarizeTask(TextToTextTask):
    name = "summarize"
    help = "train a summarizer (default data: debian-synopsis)"
    description = (
        "Train an attention encoder-decoder to write a short summary of a document: "
        "(document, summary) pairs from a .csv/.tsv/.jsonl table, two aligned text files, or "
        "the named debian-synopsis (package descriptions -> synopses). Prints ROUGE-1/2/L "
        f"with beam search and greedy decoding beside the first {LEAD_WORDS} words of the "
        "document, and writes rougeL_curve.png and attention.png."
    )
    default_dataset = "debian-synopsis"
    monitor = ("val_rougeL", "max")
    defaults = {
        "data": {"max_tokens": 160, "source_tokens": 48, "shared_vocab": True},
        "model": {"hidden_size": 256, "embed_dim": 128, "dropout": 0.2, "copy": True},
        "train": {"epochs": 20, "lr": 2e-3, "eval_every": 500, "patience": 6},
    }

    def from_named(self, rows: Any) -> tuple[list[Pair], list[str]]:
        pairs, groups = rows
        return pairs, groups

    def figures(
        self, outputs: list[str], references: list[str], selection: bool = False
    ) -> dict[str, float]:
        return rouge(outputs, references)  # ROUGE-1 and -L count single words: never stuck

    def baselines(self, model: nn.Module, splits: Splits) -> dict[str, Baseline]:
        def lead(pairs: list[Pair]) -> list[str]:
            return [" ".join(s.split()[:LEAD_WORDS]) for s, _ in pairs]

        return {"lead": (f"first {LEAD_WORDS} words", lead)}
