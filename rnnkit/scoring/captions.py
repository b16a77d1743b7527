"""Scores of image captions, every caption against all its image's references:

- BLEU-4 (sacrebleu's corpus BLEU, several references, 0-100);
- object recall: of the things an image holds (its ``concepts``: the item kinds of a scene, the
  parts of an emoji's name), the share the caption names (a multiset: a scene with two bags needs
  "bag" twice); only for data that lists concepts;
- exact: the share of captions equal to one of the references.

Captions are compared as ``caption_words`` reads them: lowercased words, a hyphenated word
("medium-dark") or one with an apostrophe whole, punctuation apart (as sacrebleu's tokeniser and
the concepts read them); the caption task's vocabulary splits captions the same way.
"""

from __future__ import annotations

import re
from collections import Counter

from rnnkit.data.images import CaptionedImage
from rnnkit.scoring.bleu import corpus_bleu

_CAPTION_WORD = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")


def caption_words(text: str) -> list[str]:
    """A caption's lowercased words and punctuation marks."""
    return _CAPTION_WORD.findall(text.lower())


def normalise(text: str) -> str:
    """A caption as it is scored: lowercased, tokens joined by single spaces."""
    return " ".join(caption_words(text))


def count_named(concepts: list[str], tokens: list[str]) -> int:
    """How many of ``concepts`` (phrases, a multiset) the caption's ``tokens`` name: each
    concept counted at most as often as its phrase occurs in the caption."""
    found = 0
    for phrase, wanted in Counter(concepts).items():
        words = caption_words(phrase)
        n = len(words)
        occurs = sum(tokens[i : i + n] == words for i in range(len(tokens) - n + 1))
        found += min(occurs, wanted)
    return found


def caption_scores(
    hyps: list[str], items: list[CaptionedImage], effective_order: bool = False
) -> dict[str, float]:
    """BLEU-4 against all references (``effective_order``: over the orders the captions have,
    ``rnnkit.scoring.bleu``), object recall (when the items list concepts) and exact match; see
    the module docstring."""
    hyps = [normalise(h) for h in hyps]
    refs = [[normalise(r) for r in it.captions] for it in items]
    k = max(len(r) for r in refs)
    streams = [[r[j] if j < len(r) else None for r in refs] for j in range(k)]
    out = {"bleu": corpus_bleu(hyps, streams, effective_order)}
    present = sum(len(it.concepts) for it in items)
    if present:
        named = sum(count_named(it.concepts, h.split()) for h, it in zip(hyps, items, strict=True))
        out["recall"] = named / present
    out["exact"] = sum(h in r for h, r in zip(hyps, refs, strict=True)) / max(len(hyps), 1)
    return out
