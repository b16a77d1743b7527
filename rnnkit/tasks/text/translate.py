"""Translation: a text in one language in, the same in another out (sequence to sequence),
beside copying the source and an IBM Model 1 word-by-word translation on the same split.

Data: the user's pairs (``--data``: a table with source and target columns, or two aligned
text files with ``--tgt-file``) or a named pair of languages: ``bible-en-es`` (the default:
King James Version -> Reina-Valera 1909, verse by verse, split by chapter), ``debian-en-de``
(Debian package synopses, English -> German, one line each with many names to copy, split by
source package) or ``debian-en-de-long`` (the long descriptions under them). Two named pairs
that differ in language, length and vocabulary keep a default from being tuned on one alone.
``--reverse`` translates the other way. The run keeps one tokenizer per side (BPE by default)
and writes results.json with BLEU and chrF (sacrebleu) for beam search and greedy decoding and
the baselines, ``bleu_curve.png`` (validation BLEU against training minutes) and
``attention.png``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from torch import nn

from rnnkit.baselines.ibm_model1 import IBMModel1
from rnnkit.config import setting
from rnnkit.data.tokenizers import WordTokenizer
from rnnkit.tasks.base import Splits, register_task
from rnnkit.tasks.text.base import Pair, TextPairData, TextToTextTask
from rnnkit.tasks.writing import Baseline

# Model 1 under a time budget (see ``baselines``): about a million links a second on one core
IBM_LINKS_PER_SECOND = 1_000_000
IBM_MIN_LINKS = 2_000_000


@dataclass(kw_only=True)
class TranslateData(TextPairData):
    reverse: bool = setting(False, "translate the other way: target side to source side")


def words(text: str) -> list[str]:
    return WordTokenizer._split(text, False)


@register_task
class TranslateTask(TextToTextTask):
    name = "translate"
    help = "train a translation model (default data: bible-en-es; also debian-en-de)"
    description = (
        "Train an attention encoder-decoder on pairs of texts: a .csv/.tsv/.jsonl table, two "
        "aligned text files, or a named pair: bible-en-es (the default: Bible verses, English "
        "-> Spanish), debian-en-de (Debian package synopses, English -> German) or "
        "debian-en-de-long (their long descriptions); --reverse for the other way. Prints "
        "BLEU and chrF with beam search and greedy decoding beside copying the source and an "
        "IBM Model 1 word-by-word translation, and writes bleu_curve.png and attention.png."
    )
    Data = TranslateData
    default_dataset = "bible-en-es"
    defaults = {
        # copy attention: BLEU 10.26 after 20 minutes on bible-en-es, 2.76 without it
        "model": {
            "hidden_size": 256,
            "embed_dim": 128,
            "dropout": 0.2,
            "label_smoothing": 0.1,
            "copy": True,
        },
        "train": {"epochs": 20, "lr": 2e-3, "eval_every": 500, "patience": 6},
    }
    input_settings = ("src_col", "tgt_col", "reverse")

    def from_named(self, rows: Any) -> tuple[list[Pair], list[str]]:
        pairs, groups = rows  # every translate dataset loads (pairs, a group per pair)
        return pairs, groups

    def load(self) -> tuple[list[Pair], list[str], str, int]:
        pairs, groups, source, skipped = super().load()
        if self.data.reverse:
            pairs = [(t, s) for s, t in pairs]
        return pairs, groups, source, skipped

    def read_examples(self, path: str) -> list[Pair]:
        pairs = super().read_examples(path)
        return [(t, s) for s, t in pairs] if self.data.reverse else pairs

    def baselines(self, model: nn.Module, splits: Splits) -> dict[str, Baseline]:
        # under a time budget (--max-time, --test-time) Model 1 gets a quarter of the time left
        # and sees the training pairs that fit in it (all of bible-en-es, 28M links, takes half
        # a minute): a 20-minute run fits them all, so its baseline is the whole-data one
        deadline = self.phase.deadline()
        left = None if deadline is None else deadline - time.monotonic()
        cap = None if left is None else max(IBM_MIN_LINKS, int(left / 4 * IBM_LINKS_PER_SECOND))
        lexicon = IBMModel1([(words(s), words(t)) for s, t in splits.train], max_links=cap)
        n, of = lexicon.fitted_pairs, len(splits.train)
        note = f" (fitted on {n} of {of} pairs)" if n < of else ""
        detok = WordTokenizer(["<unk>"]).detokenize
        return {
            "copy": ("copy the source", lambda pairs: [s for s, _ in pairs]),
            "ibm1": (
                "IBM Model 1, word by word" + note,
                lambda pairs: [detok(lexicon.translate(words(s))) for s, _ in pairs],
            ),
        }
