"""A tune's ABC text as engraved notation, an SVG the page shows as it is: by Verovio (the
engraving library of the Music Encoding Initiative; a wheel that carries its own music font,
so nothing is fetched: the page loads no notation script from elsewhere)."""

from __future__ import annotations

import re

from rnnkit.errors import RnnkitError

WIDTH_PX = 900  # the SVG's width: the page's column
SCALE = 40  # percent: staff size for a screen (Verovio's 100 is a printed page)


def abc_svg(abc: str) -> str:
    """``abc`` (one tune, as ``rnnkit.data.abc.tune_text`` writes it) engraved on staves that
    fill ``WIDTH_PX`` pixels, every system on one SVG (a tune that stops without a bar line,
    as an unfinished one does, is closed by one). A tune Verovio cannot read is refused with
    an RnnkitError."""
    import verovio

    last = abc.rstrip().rsplit("\n", 1)[-1]
    if not re.match(r"^[A-Za-z]:", last) and not last.endswith(("|", "]", ":")):
        abc = abc.rstrip() + " |\n"  # Verovio drops a last bar that no bar line closes
    verovio.enableLog(verovio.LOG_OFF)  # its notes on stderr say nothing a client can act on
    tk = verovio.toolkit()
    tk.setOptions({
        "inputFrom": "abc",
        "scale": SCALE,
        "pageWidth": WIDTH_PX * 100 // SCALE,
        "pageHeight": 60000,  # the most Verovio takes: one page, however long the tune
        "adjustPageHeight": True,
        "pageMarginLeft": 20, "pageMarginRight": 20, "pageMarginTop": 20, "pageMarginBottom": 20,
        "header": "none",  # the page shows the title and key itself
        "footer": "none",
        "svgViewBox": True,  # scales with its box on a narrow screen
    })  # fmt: skip
    if not tk.loadData(abc) or tk.getPageCount() < 1:
        raise RnnkitError("the tune could not be engraved (Verovio did not read its ABC)")
    return tk.renderToSVG(1)
