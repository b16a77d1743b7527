"""Read and write CoNLL-style tagged text: one ``token TAG`` per line, a blank line ends a sentence.

Token and tag are separated by a tab or by spaces; with more than two columns the first is the
token and the last is the tag (as in CoNLL-2003, whose middle columns are POS and chunk tags).
Lines starting with ``-DOCSTART-`` are skipped.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.data.text import read_text
from rnnkit.errors import RnnkitError

Sentence = tuple[list[str], list[str]]


def parse_conll(text: str, source: str = "<text>") -> list[Sentence]:
    """Sentences as (tokens, tags); a line without a tag raises RnnkitError with its number."""
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        if line.startswith("-DOCSTART-"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        parts = [p.strip() for p in parts if p.strip()]
        if len(parts) < 2:
            raise RnnkitError(f"{source}:{n}: expected 'TOKEN<tab>TAG', got {line.strip()!r}")
        tokens.append(parts[0])
        tags.append(parts[-1])
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def read_conll(path: str | Path) -> list[Sentence]:
    """Sentences of the CoNLL file at ``path``; RnnkitError if it is missing, malformed or empty."""
    path = Path(path)
    sentences = parse_conll(read_text(path), str(path))
    if not sentences:
        raise RnnkitError(f"{path} holds no tagged sentences")
    return sentences
