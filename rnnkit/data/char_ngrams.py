"""Hashed character n-grams of words: the subword input of fastText (Bojanowski et al. 2017,
"Enriching Word Vectors with Subword Information").

A word is read as ``<word>`` (``<`` and ``>`` mark its boundaries, so a prefix ``<un`` differs
from an inner ``un``); its character n-grams of length ``MIN_N``..``MAX_N`` are each hashed into
one of ``buckets`` rows of an embedding table, and the mean of those rows is added to the
word's own embedding. A rare word, a typo or a word never seen in training then still gets a
vector made of pieces the model has learned (``unwatchable`` shares ``<un``, ``atch``,
``able>``... with other words), which is where n-gram baselines beat word models.

Why the buckets are computed from each token's *surface string* when the batch is built, and
not looked up per vocabulary id: a word outside the word vocabulary has the single id
``<unk>``, so a table indexed by word id would give every unknown word the same n-grams and
lose exactly the words the n-grams are for. Hashing the string instead gives two different
unknown words two different vectors. Each distinct string is hashed once (``NgramHasher``
keeps them) and a batch carries only a table of its distinct words (``NgramHasher.batch``), so
the cost is paid once per run, when the batches are cut.

At character level (``level="char"``) a token is one character, so each character gets the
n-grams of the text that *end* at it instead, of length ``CHAR_MIN_N``..``CHAR_MAX_N`` (the
TF-IDF baseline's char 2- to 5-grams): the caller passes each position's window, the
``CHAR_MAX_N`` characters up to and including it (``char_windows``), and the window's suffixes
are hashed. The recurrent layer then reads, at each step, which short strings just ended there,
which a character model otherwise has to learn to remember.

The hash is ``zlib.crc32`` of the UTF-8 n-gram, not Python's ``hash`` (salted per process):
a saved model meets the same buckets in every later process, so nothing beyond ``buckets``
needs saving. ``MIN_N``, ``MAX_N`` and the hash are part of every saved model's meaning;
changing them would silently scramble old runs' n-gram rows.
"""

from __future__ import annotations

import zlib

import torch
from torch import Tensor

MIN_N = 3  # fastText's defaults for its supervised classifier are 3..6; 3..5 is its cheaper end
MAX_N = 5
CHAR_MIN_N = 2  # char level: the n-grams that end at each character, as TF-IDF's char 2..5
CHAR_MAX_N = 5
LEVELS = ("word", "char")


def char_ngrams(word: str, min_n: int = MIN_N, max_n: int = MAX_N) -> list[str]:
    """The n-grams of ``<word>``, shortest first, left to right; a word shorter than an ``n``
    gives none of that length (``"a"`` -> ``["<a>"]``)."""
    w = f"<{word}>"
    return [w[i : i + n] for n in range(min_n, max_n + 1) for i in range(len(w) - n + 1)]


def bucket_ids(word: str, buckets: int, min_n: int = MIN_N, max_n: int = MAX_N) -> list[int]:
    """One row per n-gram of ``word``, in ``1..buckets`` (row 0 is left for padding)."""
    return [1 + zlib.crc32(g.encode("utf-8")) % buckets for g in char_ngrams(word, min_n, max_n)]


def char_windows(chars: list[str]) -> list[str]:
    """For each character, the ``CHAR_MAX_N`` characters up to and including it (fewer at the
    start of the text): ``["a", "b", "c"]`` -> ``["a", "ab", "abc"]``."""
    return ["".join(chars[max(0, t - CHAR_MAX_N + 1) : t + 1]) for t in range(len(chars))]


def window_bucket_ids(window: str, buckets: int) -> list[int]:
    """One row per n-gram that ends the ``window`` (its suffixes of length ``CHAR_MIN_N`` to
    ``CHAR_MAX_N``), shortest first, in ``1..buckets``; a single character gives none."""
    grams = [window[-n:] for n in range(CHAR_MIN_N, min(CHAR_MAX_N, len(window)) + 1)]
    return [1 + zlib.crc32(g.encode("utf-8")) % buckets for g in grams]


class NgramHasher:
    """``bucket_ids`` (``level="word"``: a word's own n-grams) or ``window_bucket_ids``
    (``level="char"``: the n-grams ending at a character) for ``buckets`` rows, each distinct
    token hashed once."""

    def __init__(self, buckets: int, level: str = "word"):
        if buckets < 1:
            raise ValueError(f"buckets must be at least 1, got {buckets}")
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        self.buckets = buckets
        self.level = level
        self._seen: dict[str, list[int]] = {}

    def __call__(self, word: str) -> list[int]:
        ids = self._seen.get(word)
        if ids is None:
            hashed = bucket_ids if self.level == "word" else window_bucket_ids
            ids = self._seen[word] = hashed(word, self.buckets)
        return ids

    def batch(self, rows: list[list[str]], length: int) -> tuple[Tensor, Tensor]:
        """For tokenised ``rows`` padded to ``length`` steps: (index (B, length) int64 of each
        step's word in the table, table (U + 1, K) int64 of the U distinct words' bucket rows,
        padded with 0). Table row 0 holds no n-gram: padding steps point to it, and so does a
        token the caller wants silenced (word dropout)."""
        slot: dict[str, int] = {}
        index = torch.zeros(len(rows), length, dtype=torch.long)
        for r, words in enumerate(rows):
            index[r, : len(words)] = torch.tensor(
                [slot.setdefault(w, len(slot) + 1) for w in words], dtype=torch.long
            )
        grams = [self(w) for w in slot]  # dicts keep insertion order: row k + 1 is word k
        table = torch.zeros(len(grams) + 1, max((len(g) for g in grams), default=1),
                            dtype=torch.long)  # fmt: skip
        for k, g in enumerate(grams, start=1):
            table[k, : len(g)] = torch.tensor(g, dtype=torch.long)
        return index, table
