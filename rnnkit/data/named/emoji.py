"""``emoji``: every fully-qualified emoji drawn by Noto Color Emoji, captioned by its CLDR name.

Images: Debian ``fonts-noto-color-emoji`` (OFL-1.1). NotoColorEmoji is a bitmap (CBDT) font,
so Pillow draws it at its one size, 109, with ``embedded_color=True`` and the raqm layout
(which joins ZWJ sequences and skin-tone modifiers into one glyph); the glyph is laid on white
and scaled to ``SIZE`` x ``SIZE`` RGB. Names: ``emoji-test.txt`` of Debian ``unicode-data``
(Unicode), fully-qualified lines only, e.g. "waving hand: medium-dark skin tone".

Compositions held out: an emoji's name is a *base* and its skin tones ("waving hand" +
"medium-dark skin tone"). For every base drawn with skin tones, some of its tone variants go
to the test split (a fifth, at least one) and to validation (a tenth, at least one), the rest to
training with the base's untoned form, so each test emoji is a (base, tones) pair never seen in
training while its base and its tones each were. Its concepts (for recall) are the name's parts
between colons and commas: "waving hand", "medium-dark skin tone". Emoji without tones are all
training data (a name never seen cannot be written). The choice is seeded, the same every time.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict

import numpy as np

from rnnkit.data.images import CaptionedImage, to_tensor
from rnnkit.data.named import NamedDataset, register
from rnnkit.errors import RnnkitError

SIZE = 48
FONT_SIZE = 109  # the one size of the CBDT bitmaps
SEED = 16
TONES = ("light", "medium-light", "medium", "medium-dark", "dark")
_TONE = re.compile(r"\b(" + "|".join(sorted(TONES, key=len, reverse=True)) + r") skin tone\b")
_LINE = re.compile(r"^([0-9A-F ]+?)\s*;\s*fully-qualified\s*#\s*\S+\s+E\d+\.\d+\s+(.+)$")


def parse_emoji_test(text: str) -> list[tuple[str, str]]:
    """(emoji string, CLDR name) of every fully-qualified line of emoji-test.txt."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out.append(("".join(chr(int(h, 16)) for h in m.group(1).split()), m.group(2)))
    return out


def split_name(name: str) -> tuple[str, list[str]]:
    """(base, tones) of a CLDR name: "person: medium skin tone, beard" -> ("person: beard",
    ["medium skin tone"])."""
    tones = [f"{t} skin tone" for t in _TONE.findall(name)]
    base = _TONE.sub("", name)
    base = re.sub(r"(,\s*)+", ", ", base)  # the commas the tones leave
    base = re.sub(r":\s*,\s*", ": ", base).strip(" ,")
    return base.removesuffix(":").strip(), tones


def render(font, emoji: str):
    """The emoji as a Pillow RGBA image cropped to its ink, or None if nothing is drawn."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((0, 0), emoji, font=font, embedded_color=True)
    box = img.getbbox()
    return None if box is None else img.crop(box)


def assign_splits(names: list[str], seed: int) -> list[str]:
    """The split of each name (see the module docstring)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(names):
        base, tones = split_name(n)
        if tones:
            groups[base].append(i)
    split = ["train"] * len(names)
    rng = np.random.default_rng(seed)
    for base in sorted(groups):
        idx = groups[base]
        if len(idx) < 3:
            continue  # too few variants to hold one out and still train on one
        order = [idx[j] for j in rng.permutation(len(idx))]
        n_test, n_val = max(1, round(len(idx) / 5)), max(1, round(len(idx) / 10))
        for i in order[:n_test]:
            split[i] = "test"
        for i in order[n_test : n_test + n_val]:
            split[i] = "val"
    return split


def load_emoji(size: int = SIZE, seed: int = SEED) -> list[CaptionedImage]:
    from PIL import ImageFont

    from rnnkit.data.named.debs import deb_files

    font_file = "NotoColorEmoji.ttf"
    ttf = deb_files("fonts-noto-color-emoji", (font_file,))[font_file]
    test_file = "emoji/emoji-test.txt"
    table = deb_files("unicode-data", (test_file,))[test_file].decode("utf-8")
    rows = parse_emoji_test(table)
    if not rows:
        raise RnnkitError("emoji-test.txt of unicode-data lists no emoji; delete it to refetch")
    font = ImageFont.truetype(io.BytesIO(ttf), FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)
    splits = assign_splits([n for _, n in rows], seed)
    out = []
    for (emoji, name), split in zip(rows, splits, strict=True):
        img = render(font, emoji)
        if img is None:
            continue
        parts = [p.strip() for p in re.split(r"[:,]", name) if p.strip()]  # base, tones, ...
        out.append(CaptionedImage("emoji-" + "-".join(f"{ord(c):x}" for c in emoji),
                                  to_tensor(img, size, 3), [name], parts, split))  # fmt: skip
    return out


register(
    NamedDataset(
        name="emoji",
        task="caption",
        description="3,658 emoji drawn by Noto Color Emoji, captioned by their CLDR names; "
        "test: skin-tone variants whose (base, tone) pair is held out of training",
        source="Debian fonts-noto-color-emoji + unicode-data (emoji-test.txt)",
        license="OFL-1.1 (font), Unicode license (names)",
        load=load_emoji,
    )
)
