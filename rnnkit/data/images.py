"""Images with captions on disk, read with Pillow, and the type every captioning source gives.

A captions file is a table (``captions.tsv``, ``.csv`` or ``.jsonl``) with an image column
(a file name relative to the table's folder, or absolute) and a caption column; an image may
have several rows, one per caption. A folder may be given instead of the table when it holds
exactly one of ``CAPTION_NAMES``.

Every image becomes (C, S, S) uint8: converted to RGB (transparency laid on white) or to grey
(``channels=1``), scaled to fit an S x S square without changing its aspect and padded with
white (nothing of the picture is cut off).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.text import input_file
from rnnkit.errors import RnnkitError

CAPTION_NAMES = ("captions.tsv", "captions.csv", "captions.jsonl")
IMAGE_COLUMNS = ("image", "file", "filename", "path", "file_name", "image_file")
CAPTION_COLUMNS = ("caption", "text", "description", "sentence")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
# Pillow only warns between this and twice it, and decodes: a PNG of a few kB declaring
# 12000x12000 took 945 MB. Refused from the header, before anything is decoded.
MAX_IMAGE_PIXELS = 89_478_485  # Pillow's own Image.MAX_IMAGE_PIXELS


@dataclass
class CaptionedImage:
    """One image and what may be said of it.

    ``captions``: every reference (the first ones are trained on, see ``train_captions``);
    ``concepts``: the things the image holds, as the words a caption names them with (a
    multiset: two bags are two), for object recall; ``split`` fixes the split when the dataset
    decides it (held-out compositions), else it is empty."""

    key: str
    image: Tensor  # (C, S, S) uint8
    captions: list[str]
    concepts: list[str] = field(default_factory=list)
    split: str = ""
    train_captions: int = 0  # how many of ``captions`` to train on (0: all)

    def training_captions(self) -> list[str]:
        return self.captions[: self.train_captions or None]


def to_tensor(img, size: int, channels: int) -> Tensor:
    """A Pillow image as (channels, size, size) uint8, aspect kept, padded with white."""
    from PIL import Image, ImageOps

    if img.mode in ("RGBA", "LA", "P", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    img = img.convert("RGB" if channels == 3 else "L")
    img = ImageOps.pad(img, (size, size), Image.Resampling.LANCZOS, color="white")
    arr = np.asarray(img, dtype=np.uint8)
    arr = arr[None] if channels == 1 else arr.transpose(2, 0, 1)  # (C, S, S)
    return torch.from_numpy(arr.copy())


def read_image(path: str | Path, size: int, channels: int = 3) -> Tensor:
    """The image file ``path`` as (channels, size, size) uint8; RnnkitError naming the file
    when it is missing or not an image Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    path = input_file(path, "image file")
    try:
        with warnings.catch_warnings():
            # Pillow warns of over-large sizes (refused below) and of damaged EXIF or TIFF
            # tags (the picture still read): lines of noise before the error or the result.
            warnings.filterwarnings("ignore", module=r"PIL\.")
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_IMAGE_PIXELS:
                    why = f"over the {MAX_IMAGE_PIXELS:,} rnnkit decodes (a decompression bomb?)"
                    raise RnnkitError(f"{path}: {w}x{h} pixels, {why}; scale it down first")
                img.load()
                return to_tensor(img, size, channels)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        why = "not an image Pillow can read" if isinstance(exc, UnidentifiedImageError) else exc
        raise RnnkitError(f"{path}: {why}") from None


def find_captions(path: str | Path) -> Path:
    """``path`` if it is a file, else the one captions file inside the folder ``path``."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise RnnkitError(f"{path}: no such captions file or folder")
    found = [path / n for n in CAPTION_NAMES if (path / n).is_file()]
    if len(found) != 1:
        raise RnnkitError(f"{path}: put exactly one captions file ({', '.join(CAPTION_NAMES)}) "
                          "in the folder")  # fmt: skip
    return found[0]


def read_captions(
    path: str | Path, image_col: str | None = None, caption_col: str | None = None
) -> tuple[dict[Path, list[str]], int]:
    """{image path: its captions, in file order} from a captions file or a folder holding one,
    and how many rows were skipped (an empty image or caption cell). An image the file names
    that is not there is an error naming the captions file, its line and the image."""
    from rnnkit.data.tables import _pick, cell_text, read_table

    table = find_captions(path)
    columns, rows, lines = read_table(table)
    if not rows:
        raise RnnkitError(f"{table} has no rows")
    icol = _pick(columns, image_col, IMAGE_COLUMNS, "image")
    ccol = _pick(columns, caption_col, CAPTION_COLUMNS, "caption")
    out: dict[Path, list[str]] = {}
    skipped = 0
    for row, n in zip(rows, lines, strict=True):
        name = cell_text(row.get(icol), f"{table}:{n}", icol).strip()
        caption = " ".join(cell_text(row.get(ccol), f"{table}:{n}", ccol).split())
        if not name or not caption:
            skipped += 1
            continue
        full = Path(name) if Path(name).is_absolute() else table.parent / name
        if not full.is_file():
            raise RnnkitError(f"{table}:{n}: names the image {name!r}, which is not there")
        out.setdefault(full, []).append(caption)
    if not out:
        raise RnnkitError(f"{table}: every row has an empty {icol!r} or {ccol!r}")
    return out, skipped


def read_captioned_folder(
    path: str | Path, size: int, channels: int, image_col: str | None = None,
    caption_col: str | None = None,
) -> tuple[list[CaptionedImage], dict[str, int]]:  # fmt: skip
    """The captioned images a captions file lists, read at ``size``; images Pillow cannot read
    are skipped and counted (with the empty rows) in the returned counts."""
    captions, empty = read_captions(path, image_col, caption_col)
    items, unreadable = [], 0
    for file, caps in captions.items():
        try:
            image = read_image(file, size, channels)
        except RnnkitError:
            unreadable += 1
            continue
        items.append(CaptionedImage(str(file), image, caps))
    if not items:
        raise RnnkitError(f"{find_captions(path)}: none of its {len(captions)} images can be read")
    return items, {"empty_rows": empty, "unreadable_images": unreadable}


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder`` (by suffix), sorted by name."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise RnnkitError(f"{folder}: holds no image file ({', '.join(IMAGE_SUFFIXES[:4])}...)")
    return files
