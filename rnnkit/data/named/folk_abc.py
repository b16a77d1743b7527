"""``folk-abc``: 4,248 folk tunes in ABC from the music21 wheel's corpus.

O'Neill's *Music of Ireland* (1850; 2,009 tunes, transcribed by Norbert Paap), *Ryan's Mammoth
Collection* (1883; 1,059, John Chambers) and Aird's *Selection of Scotch, English, Irish and
Foreign Airs* (1778-1803; 1,180, Jack Campin), as music21 10.5.1 ships them. The Essen
collection in the same wheel is licensed for non-commercial use only and is never read. The
``.abc`` files are read straight out of the wheel (no music21 import) and tokenised by
``rnnkit.data.abc``; tunes that do not read are skipped and counted.
"""

from __future__ import annotations

import zipfile

from rnnkit.data.abc import Tune, read_collection
from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.fetch import fetch_pypi

COLLECTIONS = ("oneills1850", "ryansMammoth", "airdsAirs")  # never "essenFolksong"


def read_wheel_tunes(wheel) -> tuple[list[Tune], dict[str, dict[str, int]]]:
    """Every tune of the three collections in a music21 wheel, in file order, and per
    collection how many read and how many were skipped."""
    tunes: list[Tune] = []
    counts = {c: {"tunes": 0, "skipped": 0} for c in COLLECTIONS}
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            parts = name.split("/")
            if len(parts) != 4 or parts[2] not in COLLECTIONS or not name.endswith(".abc"):
                continue
            found, skipped = read_collection(zf.read(name).decode("latin-1"))
            tunes += found
            counts[parts[2]]["tunes"] += len(found)
            counts[parts[2]]["skipped"] += skipped
    return tunes, counts


def load_folk_abc() -> tuple[list[Tune], dict[str, dict[str, int]]]:
    return read_wheel_tunes(fetch_pypi("music21", "10.5.1", sdist=False))


register(
    NamedDataset(
        "folk-abc",
        "music",
        "4,248 Irish and Scottish folk tunes in ABC (O'Neill's 1850, Ryan's Mammoth, Aird's Airs)",
        "PyPI music21==10.5.1 wheel, music21/corpus/{oneills1850,ryansMammoth,airdsAirs}",
        "music21 is BSD-3-Clause; the tunes are public-domain collections (1778-1883)",
        load_folk_abc,
    )
)
