"""``shakespeare``: the bundled corpus (eight plays, ``rnnkit/data/corpora``) as one text, the
default of word reordering."""

from __future__ import annotations

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.text import read_text


def load_shakespeare() -> str:
    return read_text(None)


register(
    NamedDataset(
        name="shakespeare",
        task="reorder",
        description="eight plays by Shakespeare, the bundled corpus (about 1 MB)",
        source="the bundled corpus (Open Shakespeare / Project Gutenberg)",
        license="public domain",
        load=load_shakespeare,
    )
)
