"""Tiny captioned image folders for the captioning tests: coloured squares and circles on the
left or right of a white picture, written as PNG files with a captions table."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 170, 60)}
SHAPES = ("square", "circle")


def draw(colour: str, shape: str, side: str, size: int = 24) -> Image.Image:
    img = Image.new("RGB", (size, size), "white")
    x0 = 2 if side == "left" else size // 2 + 1
    box = (x0, size // 4, x0 + size // 2 - 3, size // 4 + size // 2 - 3)
    d = ImageDraw.Draw(img)
    (d.rectangle if shape == "square" else d.ellipse)(box, fill=COLOURS[colour])
    return img


def write_caption_folder(folder: Path, n: int = 24, seed: int = 0, suffix: str = ".tsv") -> Path:
    """``n`` images with two captions each in ``folder/captions{suffix}``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        shape, side = SHAPES[rng.integers(2)], ("left", "right")[rng.integers(2)]
        name = f"{i:03d}.png"
        draw(colour, shape, side).save(folder / name)
        rows += [(name, f"a {colour} {shape} on the {side}"),
                 (name, f"a {shape} on the {side}, {colour}")]  # fmt: skip
    table = folder / f"captions{suffix}"
    with table.open("w", newline="") as f:
        w = csv.writer(f, delimiter="\t" if suffix == ".tsv" else ",")
        w.writerow(["image", "caption"])
        w.writerows(rows)
    return folder
