"""Hutto & Gilbert (2014) sentiment sets from the ``vaderSentiment==3.3.2`` sdist (MIT).

Each ``*_GroundTruth.txt`` line is ``id <tab> mean rating (-4..4) <tab> text``. The label is
the sign of the mean rating (``positive``/``negative``); sentences rated exactly 0 are dropped.
"""

from __future__ import annotations

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.fetch import fetch_pypi, read_nested_tar_member
from rnnkit.data.tables import LabelledTexts
from rnnkit.errors import RnnkitError

PACKAGE = ("vaderSentiment", "3.3.2")
INNER = "additional_resources/hutto_ICWSM_2014.tar.gz"


def parse_ground_truth(text: str, source: str) -> LabelledTexts:
    """Texts labelled by the sign of their mean rating; zero ratings skipped and counted."""
    texts, labels, skipped = [], [], 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise RnnkitError(f"{source}:{n}: expected 'id<tab>rating<tab>text'")
        rating = float(parts[1])
        if rating == 0.0 or not parts[2].strip():
            skipped += 1
            continue
        texts.append(parts[2].strip())
        labels.append("positive" if rating > 0 else "negative")
    return LabelledTexts(texts, labels, skipped)


def _loader(stem: str):
    def load() -> LabelledTexts:
        archive = fetch_pypi(*PACKAGE, sdist=True)
        raw = read_nested_tar_member(archive, INNER, f"{stem}_GroundTruth.txt")
        return parse_ground_truth(raw.decode("utf-8", errors="replace"), f"{stem}_GroundTruth")

    return load


_SOURCE = "PyPI sdist vaderSentiment==3.3.2, additional_resources/hutto_ICWSM_2014.tar.gz"
for _name, _stem, _what in (
    ("sentiment-movies", "movieReviewSnippets", "10,605 movie-review snippets"),
    ("sentiment-tweets", "tweets", "4,200 tweets"),
    ("sentiment-amazon", "amazonReviewSnippets", "3,708 Amazon review snippets"),
    # kept out of every choice of default: the check on data nobody tuned for
    ("sentiment-nyt", "nytEditorialSnippets", "5,190 New York Times editorial snippets"),
):
    register(
        NamedDataset(
            _name,
            "classify",
            f"{_what}, label = sign of the mean human rating (0 dropped)",
            _SOURCE,
            "MIT; cite Hutto & Gilbert, ICWSM 2014",
            _loader(_stem),
        )
    )
