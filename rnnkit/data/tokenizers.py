"""Character-, word- and subword-level tokenizers that turn text into integer ids and back.

Each serialises to a plain JSON dict (``to_dict`` / ``tokenizer_from_dict``) that is saved
beside every checkpoint, so a trained model is always used with the vocabulary it learned.
Subword vocabularies (BPE, unigram) are learned by the ``tokenizers`` library.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import torch

from rnnkit.errors import RnnkitError

UNK = "<unk>"
CHUNK_CHARS = 1 << 22  # characters encoded at a time: bounds the temporary arrays


def id_dtype(vocab_size: int) -> torch.dtype:
    """The smallest integer type that holds every id: a long corpus's ids take 1 or 2 bytes a
    token, not 8 (batches are widened to int64 as they are cut)."""
    if vocab_size <= 256:
        return torch.uint8
    return torch.int16 if vocab_size <= 32768 else torch.int32


# Words, single punctuation marks and line breaks; runs of spaces and tabs are separators.
_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]|\n")
_NO_SPACE_BEFORE = set(".,;:!?)]}'\n")
_NO_SPACE_AFTER = set("([{\n")


class CharTokenizer:
    """One id per distinct character of the training text, sorted by code point.

    There is no unknown token: a character outside the vocabulary is an error, since a
    character model cannot say anything sensible about a symbol it has never seen.
    """

    level = "char"

    def __init__(self, vocab: list[str]):
        self.vocab = list(vocab)
        self.index = {c: i for i, c in enumerate(self.vocab)}

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def encode(self, text: str, strict: bool = True) -> list[int]:
        """Ids of ``text``; unknown characters raise ``RnnkitError`` (dropped if not strict)."""
        missing = sorted({c for c in text if c not in self.index})
        if missing and strict:
            shown = "".join(missing[:10])
            raise RnnkitError(
                f"text holds {len(missing)} character(s) the model's vocabulary lacks: {shown!r}"
            )
        return [self.index[c] for c in text if c in self.index]

    def encode_ids(self, text: str, strict: bool = True) -> torch.Tensor:
        """``encode`` as a compact tensor (``id_dtype``), done in chunks with a code-point
        table: a 200 MB text never becomes a Python list."""
        codes = np.array([ord(c) for c in self.vocab], dtype=np.int64)
        table = np.full(int(codes.max()) + 2, -1, dtype=np.int64)  # last slot: out of range
        table[codes] = np.arange(len(codes))
        pieces = []
        for start in range(0, len(text), CHUNK_CHARS):
            chunk = text[start : start + CHUNK_CHARS]
            points = np.frombuffer(chunk.encode("utf-32-le"), dtype=np.uint32)
            ids = table[np.minimum(points, len(table) - 1)]
            if (ids < 0).any():
                if strict:
                    self.encode(chunk, strict=True)  # raises, naming the characters
                ids = ids[ids >= 0]
            pieces.append(torch.from_numpy(ids.astype(np.int64)).to(id_dtype(len(self))))
        return torch.cat(pieces) if pieces else torch.zeros(0, dtype=id_dtype(len(self)))

    def decode(self, ids: list[int]) -> str:
        return "".join(self.vocab[i] for i in ids)

    def token(self, i: int) -> str:
        return self.vocab[i]

    def to_dict(self) -> dict:
        return {"level": "char", "vocab": self.vocab}


class WordTokenizer:
    """Words, punctuation marks and line breaks as tokens, with ``<unk>`` for the rest.

    ``<unk>`` is id 0 (``fit_tokenizer`` builds the vocabulary). Decoding joins tokens with
    single spaces, without a space before closing punctuation or around line breaks.
    """

    level = "word"

    def __init__(self, vocab: list[str], lowercase: bool = False):
        if not vocab or vocab[0] != UNK:
            raise RnnkitError("word vocabulary must start with the <unk> token")
        self.vocab = list(vocab)
        self.lowercase = lowercase
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @staticmethod
    def _split(text: str, lowercase: bool) -> list[str]:
        return _WORD_RE.findall(text.lower() if lowercase else text)

    def __len__(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        return self._split(text, self.lowercase)

    def encode(self, text: str, strict: bool = False) -> list[int]:
        """Ids of ``text``; words outside the vocabulary become ``<unk>`` (id 0)."""
        return [self.index.get(w, 0) for w in self.tokenize(text)]

    def encode_ids(self, text: str, strict: bool = False) -> torch.Tensor:
        return torch.tensor(self.encode(text, strict), dtype=torch.int64).to(id_dtype(len(self)))

    def decode(self, ids: list[int]) -> str:
        return self.detokenize([self.vocab[i] for i in ids])

    def detokenize(self, tokens: list[str]) -> str:
        """Tokens (from the vocabulary or not) joined back into text."""
        out: list[str] = []
        for w in tokens:
            if out and not (w[0] in _NO_SPACE_BEFORE or out[-1][-1] in _NO_SPACE_AFTER):
                out.append(" ")
            out.append(w)
        return "".join(out)

    def token(self, i: int) -> str:
        return self.vocab[i]

    def to_dict(self) -> dict:
        return {"level": "word", "vocab": self.vocab, "lowercase": self.lowercase}


class SubwordTokenizer:
    """Subword units learned from the training text by the ``tokenizers`` library: BPE
    (Sennrich et al. 2016) or the unigram model (Kudo 2018), over text whose spaces are kept as
    a ``▁`` prefix (SentencePiece's convention), so ``decode(encode(t)) == t`` up to
    runs of whitespace. ``char`` is BPE with no merges: one token per character, and ``<unk>``
    (always id 0) for a character the training text lacked. ``specials`` take the first ids.
    """

    LEVELS = ("char", "bpe", "unigram")

    def __init__(self, level: str, model: dict):
        from tokenizers import Tokenizer as HFTokenizer

        if level not in self.LEVELS:
            raise RnnkitError(f"subword level must be one of {self.LEVELS}, got {level!r}")
        self.level, self.model = level, model
        try:
            self.hf = HFTokenizer.from_str(json.dumps(model))
        except Exception as exc:  # the library's own error types are not exported
            raise RnnkitError(f"subword tokenizer is malformed ({exc})") from None
        self.vocab = [self.hf.id_to_token(i) for i in range(self.hf.get_vocab_size())]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        if not self.vocab or self.vocab[0] != UNK:
            raise RnnkitError("subword vocabulary must start with the <unk> token")

    @classmethod
    def fit(
        cls, texts: Iterable[str], level: str, vocab_size: int, specials: tuple[str, ...] = (UNK,)
    ) -> SubwordTokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if not specials or specials[0] != UNK:
            raise RnnkitError("the first special token must be <unk>")
        if level == "unigram":
            hf = HFTokenizer(models.Unigram())
            trainer = trainers.UnigramTrainer(
                vocab_size=vocab_size, special_tokens=list(specials), unk_token=UNK,
                show_progress=False,
            )  # fmt: skip
        elif level in ("bpe", "char"):
            hf = HFTokenizer(models.BPE(unk_token=UNK))
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size if level == "bpe" else 1,
                special_tokens=list(specials), show_progress=False,
            )  # fmt: skip
        else:
            raise RnnkitError(f"subword level must be one of {cls.LEVELS}, got {level!r}")
        # words at spaces, then punctuation apart ("See," -> "▁See" ","): pieces then
        # never fuse a word with the mark after it
        hf.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()]
        )
        hf.decoder = decoders.Metaspace()
        hf.train_from_iterator(texts, trainer)
        return cls(level, json.loads(hf.to_str()))

    def __len__(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        return self.hf.encode(text, add_special_tokens=False).tokens

    def encode(self, text: str, strict: bool = False) -> list[int]:
        """Ids of ``text``; what the vocabulary cannot spell becomes ``<unk>`` (id 0)."""
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_ids(self, text: str, strict: bool = False) -> torch.Tensor:
        return torch.tensor(self.encode(text, strict), dtype=torch.int64).to(id_dtype(len(self)))

    def decode(self, ids: list[int]) -> str:
        return self.detokenize([self.vocab[i] for i in ids])

    def detokenize(self, tokens: list[str]) -> str:
        """Tokens (from the vocabulary or not) joined back into text."""
        return self.hf.decoder.decode(list(tokens))

    def token(self, i: int) -> str:
        return self.vocab[i]

    def to_dict(self) -> dict:
        return {"level": self.level, "model": self.model}


Tokenizer = CharTokenizer | WordTokenizer | SubwordTokenizer


def fit_vocab(tokens: Iterable[str], max_size: int, min_count: int = 1) -> list[str]:
    """``<unk>`` and the ``max_size - 1`` most frequent tokens seen at least ``min_count``
    times (ties broken by first appearance, so the result is deterministic)."""
    if max_size < 2:
        raise RnnkitError(f"vocab_size must be at least 2, got {max_size}")
    counts = Counter(tokens)
    counts.pop(UNK, None)
    kept = [w for w, c in counts.most_common() if c >= min_count]
    return [UNK, *kept[: max_size - 1]]


def fit_tokenizer(
    texts: str | Iterable[str],
    level: str = "char",
    max_vocab: int = 10000,
    min_count: int = 1,
    lowercase: bool = False,
) -> Tokenizer:
    """The one vocabulary fitter: a tokenizer of ``level`` fitted on the training text(s).

    Char level keeps every character seen (no ``<unk>``); word level keeps ``fit_vocab``'s
    words. Fit on the training split only, so validation and test see unknown words as a user
    would.
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    if level == "char":
        return CharTokenizer(sorted(set().union(*map(set, texts))))
    if level == "word":
        words = (w for t in texts for w in WordTokenizer._split(t, lowercase))
        return WordTokenizer(fit_vocab(words, max_vocab, min_count), lowercase)
    raise RnnkitError(f"level must be char or word, got {level!r}")


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """Rebuild a tokenizer saved with ``to_dict``."""
    try:
        if d["level"] in SubwordTokenizer.LEVELS and "model" in d:
            return SubwordTokenizer(d["level"], d["model"])
        if d["level"] == "char":
            return CharTokenizer(d["vocab"])
        if d["level"] == "word":
            return WordTokenizer(d["vocab"], bool(d.get("lowercase", False)))
    except (KeyError, TypeError) as exc:
        raise RnnkitError(f"tokenizer file is malformed ({exc})") from None
    raise RnnkitError(f"tokenizer file names an unknown level {d.get('level')!r}")
