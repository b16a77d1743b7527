"""``debian-en-de``: Debian package synopses in English and their German translations, and
``debian-en-de-long``: the long descriptions under them.

A pair is one package description translated by Debian's description translation project
(DDTP): ``apt-get update`` with ``Acquire::Languages=en,de`` into a private lists folder
fetches the ``Translation-en`` and ``Translation-de`` indexes (and ``Packages``), read as for
``debian-synopsis`` (``rnnkit.data.named.debian``). Entries are matched by
``Description-md5``, the checksum of the English original that a translation was made from,
so a German text is never paired with a newer English one; a description on one side only is
left out. In ``debian-en-de`` a pair is the one-line synopsis (short, software vocabulary, many
names to copy: "Python 3 bindings for libfoo"), in ``debian-en-de-long`` the long description
(its lines and paragraphs joined). Identical pairs are kept once, and each pair's group is the
English entry's source package, so that a package's ``-dev``/``-doc``/``-data`` siblings, whose
descriptions are near-copies, never sit on both sides of a split.
"""

from __future__ import annotations

from collections.abc import Callable

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.debian import (
    lists_dir,
    long_description,
    read_index,
    source_packages,
    stanzas,
    synopsis,
)

LANGUAGES = ("en", "de")
Pair = tuple[str, str]  # (English, German)


def translation_pairs(
    english: str, german: str, packages: str, text: Callable[[list[str]], str] = synopsis
) -> tuple[list[Pair], list[str]]:
    """Distinct (English, German) pairs of ``text`` (a description's synopsis or its long
    description), matched by ``Description-md5``, and each one's source package."""
    german_of = {}
    for f in stanzas(german):
        if "Description-md5" in f and "Description-de" in f:
            german_of[f["Description-md5"][0]] = f["Description-de"]
    source_of = source_packages(packages)
    pairs, groups, seen = [], [], set()
    for f in stanzas(english):
        de = german_of.get((f.get("Description-md5") or [""])[0])
        if not de or "Description-en" not in f or "Package" not in f:
            continue
        pair = (text(f["Description-en"]), text(de))
        if not all(pair) or pair in seen:
            continue
        seen.add(pair)
        pairs.append(pair)
        package = f["Package"][0]
        groups.append(source_of.get(package, package))
    return pairs, groups


def loader(text: Callable[[list[str]], str]) -> Callable[[], tuple[list[Pair], list[str]]]:
    def load() -> tuple[list[Pair], list[str]]:
        lists = lists_dir(LANGUAGES)
        return translation_pairs(read_index(lists, "i18n_Translation-en"),
                                 read_index(lists, "i18n_Translation-de"),
                                 read_index(lists, "binary-amd64_Packages"), text)  # fmt: skip

    return load


SOURCE = "Debian bookworm Translation-en, Translation-de and Packages indexes (apt-get update)"
register(
    NamedDataset(
        name="debian-en-de",
        task="translate",
        description="Debian package synopses, English -> German (one line each)",
        source=SOURCE,
        license="the packages' own free licences",
        load=loader(synopsis),
    )
)
register(
    NamedDataset(
        name="debian-en-de-long",
        task="translate",
        description="Debian package long descriptions, English -> German",
        source=SOURCE,
        license="the packages' own free licences",
        load=loader(long_description),
    )
)
