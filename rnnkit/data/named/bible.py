"""``bible-en-es``: the King James Version (1769 text) and the Reina-Valera 1909, verse by verse;
``kjv``: the King James Version's English alone, one verse a line (word reordering's second
corpus).

Both come from Debian's SWORD packages (``sword-text-kjv``: module ``engKJV2006eb``;
``sword-text-sparv``: ``spaRV1909eb``), both public domain, both in the KJV versification, so
entry ``i`` of one module's verse index is the same verse as entry ``i`` of the other's.

A zText module is three files per testament: ``.bzv`` has one 10-byte record per index entry
(block number uint32, offset in the unpacked block uint32, size uint16), ``.bzs`` one 12-byte
record per block (offset in ``.bzz`` uint32, packed size uint32, unpacked size uint32), and
``.bzz`` the zlib-packed blocks. An entry holding ``<chapter sID=... osisID="Gen.1">`` opens
a chapter, one holding a ``type="book"`` div opens a book; the entries after a chapter's are its
verses. The text is OSIS: the markup is dropped, and so are notes and non-canonical headings.
"""

from __future__ import annotations

import io
import re
import struct
import tarfile
import zlib
from dataclasses import dataclass

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.debs import deb_data
from rnnkit.data.named.fetch import fetch_debian
from rnnkit.errors import RnnkitError

MODULES = {"en": ("sword-text-kjv", "engKJV2006eb"), "es": ("sword-text-sparv", "spaRV1909eb")}
TESTAMENTS = ("ot", "nt")
_DROPPED = re.compile(  # elements whose content is not the verse's text
    r"<note\b.*?</note>|<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>", re.S
)
_TAG = re.compile(r"<[^>]*>")
_CHAPTER = re.compile(r'<chapter\b[^>]*\bsID="[^"]*"[^>]*\bosisID="([^"]+)"|'
                      r'<chapter\b[^>]*\bosisID="([^"]+)"[^>]*\bsID=')  # fmt: skip
_BOOK = re.compile(r'<div\b[^>]*type="book"')


@dataclass(frozen=True)
class Verse:
    chapter: str  # OSIS chapter id, e.g. "Gen.1"
    en: str
    es: str


def clean(osis: str) -> str:
    """The readable text of one OSIS verse: markup, notes, pilcrows and extra spaces gone."""
    text = _TAG.sub("", _DROPPED.sub("", osis)).replace("\u00b6", "")
    return " ".join(text.split())


def read_ztext(files: dict[str, bytes], testament: str) -> list[str]:
    """Every index entry of one testament of a zText module, as raw OSIS text ('' if empty)."""
    bzs, bzv, bzz = (files[f"{testament}.{ext}"] for ext in ("bzs", "bzv", "bzz"))
    blocks = [struct.unpack_from("<III", bzs, i) for i in range(0, len(bzs), 12)]
    unpacked: dict[int, bytes] = {}
    entries = []
    for i in range(0, len(bzv) - 9, 10):
        block, offset, size = struct.unpack_from("<IIH", bzv, i)
        if size == 0:
            entries.append("")
            continue
        if block not in unpacked:
            start, packed, _ = blocks[block]
            unpacked[block] = zlib.decompress(bzz[start : start + packed])
        entries.append(unpacked[block][offset : offset + size].decode("utf-8", "replace"))
    return entries


def module_files(package: str, module: str) -> dict[str, bytes]:
    """The zText files of ``module`` out of the cached ``.deb`` of ``package``."""
    deb = fetch_debian(package)
    data = deb_data(deb.read_bytes(), deb.name)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            if m.isfile() and f"/ztext/{module.lower()}/" in m.name.lower():
                out[m.name.rsplit("/", 1)[1]] = tf.extractfile(m).read()
    need = {f"{t}.{e}" for t in TESTAMENTS for e in ("bzs", "bzv", "bzz")}
    if not need <= out.keys():
        raise RnnkitError(f"{deb.name} lacks {sorted(need - out.keys())}; delete it to refetch")
    return out


def chapters(entries: list[str]) -> list[str | None]:
    """The chapter of each index entry that is a verse; None for the entries that open a book
    or a chapter, and for those before the first chapter."""
    out: list[str | None] = []
    chapter = None
    for raw in entries:
        opened = _CHAPTER.search(raw)
        if opened:
            chapter = opened.group(1) or opened.group(2)
        elif _BOOK.search(raw):
            chapter = None
        out.append(None if opened else chapter)
    return out


def load_bible() -> list[Verse]:
    """Aligned English-Spanish verses, in canonical order; a verse empty in either is left out
    (the KJV versification has a few entries one translation leaves empty)."""
    texts = {lang: module_files(*MODULES[lang]) for lang in MODULES}
    verses: list[Verse] = []
    for testament in TESTAMENTS:
        en, es = (read_ztext(texts[lang], testament) for lang in ("en", "es"))
        if len(en) != len(es):
            raise RnnkitError(f"the two modules' {testament} indexes differ ({len(en)}, {len(es)})")
        for chapter, raw_en, raw_es in zip(chapters(en), en, es, strict=True):
            a, b = clean(raw_en), clean(raw_es)
            if chapter and a and b:
                verses.append(Verse(chapter, a, b))
    return verses


def load_bible_pairs() -> tuple[list[tuple[str, str]], list[str]]:
    """(English, Spanish) verse pairs and each one's chapter: what every translate dataset loads."""
    verses = load_bible()
    return [(v.en, v.es) for v in verses], [v.chapter for v in verses]


def load_kjv() -> str:
    """The King James Version's verses, in canonical order, one a line."""
    files = module_files(*MODULES["en"])
    lines = []
    for testament in TESTAMENTS:
        entries = read_ztext(files, testament)
        lines += [clean(raw) for chapter, raw in zip(chapters(entries), entries, strict=True)
                  if chapter]  # fmt: skip
    return "\n".join(line for line in lines if line) + "\n"


register(
    NamedDataset(
        name="bible-en-es",
        task="translate",
        description="King James Version and Reina-Valera 1909, aligned verse by verse",
        source="Debian sword-text-kjv (engKJV2006eb) + sword-text-sparv (spaRV1909eb)",
        license="public domain",
        load=load_bible_pairs,
    )
)
register(
    NamedDataset(
        name="kjv",
        task="reorder",
        description="King James Version (1769 text), English, one verse a line",
        source="Debian sword-text-kjv (engKJV2006eb)",
        license="public domain",
        load=load_kjv,
    )
)
