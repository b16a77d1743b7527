r"""An open-vocabulary word-level Kneser-Ney model of texts (``WordKneserNey``): the n-gram
baseline of the dialogue task's perplexity, and the language model of replies p_LM(T) that
reranking by mutual information subtracts (``rnnkit.generate.rerank``).

Words are rnnkit's word tokens (``WordTokenizer``: words and punctuation marks apart, case
kept, as the dialogue model writes them). The vocabulary is the training words seen at least
``min_count`` times; the others are ``<unk>`` in training, so p(<unk> | h) is estimated as any
word's is. A word outside the vocabulary costs p(<unk> | h) times the probability of its
spelling under a character Kneser-Ney model of those rare training words, renormalised over the
strings outside the vocabulary:

.. math::
    p(w \mid h) = p_{KN}(w \mid h) \quad (w \in V), \qquad
    p(w \mid h) = p_{KN}(\langle unk\rangle \mid h)\,
                  \frac{p_{chr}(w)}{1 - \sum_{v \in V} p_{chr}(v)} \quad (w \notin V)

so every text has a probability (not only its known words), and the model's perplexity per word
can stand beside that of a model of subword tokens. Each text ends with an end token, as the
seq2seq targets do. The word and spelling models are ``rnnkit.baselines.kneser_ney.KneserNey``
(interpolated modified Kneser-Ney).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rnnkit.baselines.kneser_ney import KneserNey
from rnnkit.data.tokenizers import WordTokenizer
from rnnkit.errors import RnnkitError

UNK, BOS, END = 0, 1, 2  # ids of both models: <unk>, the begin token, the end of a text / word
SPECIALS = ("<unk>", "<s>", "</s>")


def words_of(text: str) -> list[str]:
    """The word tokens the model reads of ``text``."""
    return WordTokenizer._split(text, False)


class WordKneserNey:
    """Order-``order`` word model with a character order-``char_order`` spelling model of the
    words outside the vocabulary (see the module docstring)."""

    def __init__(self, order: int = 3, min_count: int = 2, char_order: int = 3) -> None:
        if min_count < 1:
            raise RnnkitError(f"min_count must be at least 1, got {min_count}")
        self.order, self.min_count, self.char_order = order, min_count, char_order
        self.vocab: list[str] = list(SPECIALS)
        self.chars: list[str] = list(SPECIALS)
        self.words = KneserNey(order, len(self.vocab), BOS)
        self.spelling = KneserNey(char_order, len(self.chars), BOS)
        self.log_unseen = 0.0  # -log of the spelling mass outside the vocabulary

    def fit(self, texts: Sequence[str]) -> WordKneserNey:
        tokens = [words_of(t) for t in texts]
        counts = Counter(w for ws in tokens for w in ws)
        rare = sorted(w for w, c in counts.items() if c < self.min_count)
        self.vocab = [*SPECIALS, *sorted(w for w, c in counts.items() if c >= self.min_count)]
        self.chars = [*SPECIALS, *sorted({ch for w in rare for ch in w})]
        self._index()
        self.words = KneserNey(self.order, len(self.vocab), BOS).fit(
            [self.ids(ws) for ws in tokens]
        )
        spellings = [self.spell(w) for w in rare]
        self.spelling = KneserNey(self.char_order, len(self.chars), BOS).fit(spellings)
        self._renormalise()
        return self

    def _index(self) -> None:
        self.word_id = {w: i for i, w in enumerate(self.vocab)}
        self.char_id = {c: i for i, c in enumerate(self.chars)}

    def _renormalise(self) -> None:
        known = sum(math.exp(self.spelling_logprob(w)) for w in self.vocab[len(SPECIALS) :])
        self.log_unseen = -math.log(max(1.0 - known, 1e-300))

    def ids(self, words: Sequence[str]) -> list[int]:
        """Word ids of ``words`` and the end token (``<unk>`` outside the vocabulary)."""
        return [self.word_id.get(w, UNK) for w in words] + [END]

    def spell(self, word: str) -> list[int]:
        """Character ids of ``word`` and the end of the word."""
        return [self.char_id.get(c, UNK) for c in word] + [END]

    def spelling_logprob(self, word: str) -> float:
        ids = self.spell(word)
        return sum(math.log(self.spelling.prob(ids[:i], c)) for i, c in enumerate(ids))

    def logprob(self, text: str) -> float:
        """log p(text) in nats: every word of it and the end token."""
        words = words_of(text)
        ids = self.ids(words)
        total = 0.0
        for i, w in enumerate(ids):
            total += math.log(self.words.prob(ids[:i], w))
            if w == UNK:  # which word outside the vocabulary: its spelling
                total += self.spelling_logprob(words[i]) + self.log_unseen
        return total

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "word-kneser-ney", "min_count": self.min_count, "vocab": self.vocab,
                "chars": self.chars, "words": self.words.to_dict(),
                "spelling": self.spelling.to_dict()}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Any) -> WordKneserNey:
        """The model ``to_dict`` described; anything else is a one-line RnnkitError."""
        try:
            if d["kind"] != "word-kneser-ney":
                raise ValueError
            model = cls(d["words"]["order"], d["min_count"], d["spelling"]["order"])
            model.vocab, model.chars = list(d["vocab"]), list(d["chars"])
            model._index()
            model.words = KneserNey.from_dict(d["words"])
            model.spelling = KneserNey.from_dict(d["spelling"])
        except (KeyError, TypeError, ValueError, IndexError):
            raise RnnkitError("not a word Kneser-Ney model") from None
        model._renormalise()
        return model
