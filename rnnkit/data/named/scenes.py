"""``scenes``: 2 to 4 real Fashion-MNIST items on a 2 x 2 canvas, captioned from the layout.

The items are Fashion-MNIST's 28 x 28 photographs (Debian ``dataset-fashion-mnist``, MIT):
training scenes take theirs from its training file, validation and test scenes from its test
file, so no test pixel was trained on. Each item lands in one cell of a 64 x 64 canvas (cells of
32, shifted by up to 4 pixels), and the captions say what is where, in every phrasing the
grammar allows::

    row       a X                  (one item in the row)
              a X to the left of a Y  |  a Y to the right of a X  |  a X beside a Y
    scene     ROW                  (one row used)
              TOP, above BOTTOM  |  BOTTOM, below TOP     (the comma only after a pair)

e.g. "a bag beside a sneaker, above a shirt". All phrasings are references for BLEU; each
training scene is trained on ``TRAIN_CAPTIONS`` of them.

Compositions held out: ``HELD_OUT`` names 10 of the 45 pairs of item kinds. No training or
validation scene holds both items of a held-out pair; every test scene holds at least one
such pair (each kind is still seen in training, with other kinds). A model that memorised
which items go together fails on them. Generation is deterministic from ``SEED``.
"""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import torch

from rnnkit.data.images import CaptionedImage
from rnnkit.data.named import NamedDataset, register
from rnnkit.errors import RnnkitError

KINDS = (
    "top",
    "trousers",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "boot",
)  # fmt: skip  (Fashion-MNIST's labels 0-9; "ankle boot" is "boot")
HELD_OUT = frozenset(frozenset((i, (i + 3) % 10)) for i in range(10))  # 10 pairs, each kind twice
CANVAS, CELL, ITEM, JITTER = 64, 32, 28, 4
SIZES = {"train": 8000, "val": 400, "test": 1000}
TRAIN_CAPTIONS = 3
SEED = 16
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip


def noun(kind: int) -> str:
    return "a pair of trousers" if KINDS[kind] == "trousers" else f"a {KINDS[kind]}"


def row_phrases(items: list[int]) -> list[str]:
    """Phrasings of one row's items, left to right (one or two)."""
    if len(items) == 1:
        return [noun(items[0])]
    x, y = map(noun, items)
    return [f"{x} to the left of {y}", f"{y} to the right of {x}", f"{x} beside {y}"]


def describe(layout: dict[int, int]) -> list[str]:
    """Every caption of a layout {cell (0 top-left, 1 top-right, 2 bottom-left, 3
    bottom-right): kind}, in a fixed order."""
    top = [layout[c] for c in (0, 1) if c in layout]
    bottom = [layout[c] for c in (2, 3) if c in layout]
    if not top or not bottom:
        return row_phrases(top or bottom)
    out = []
    for t, b in itertools.product(row_phrases(top), row_phrases(bottom)):
        out.append(f"{t}{',' if len(top) == 2 else ''} above {b}")
        out.append(f"{b}{',' if len(bottom) == 2 else ''} below {t}")
    return out


def held_out(kinds: list[int]) -> bool:
    """Whether the kinds hold both items of a held-out pair."""
    return any(frozenset(p) in HELD_OUT for p in itertools.combinations(set(kinds), 2))


def read_idx(raw: bytes) -> np.ndarray:
    """An IDX file (gzipped): uint8 images (N, 28, 28) or labels (N,)."""
    data = gzip.decompress(raw)
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if arr.size != int(np.prod(shape)):
        raise RnnkitError("a Fashion-MNIST file is cut short; delete the .deb to refetch")
    return arr.reshape(shape)


def generate(
    split: str, n: int, images: np.ndarray, labels: np.ndarray, seed: int
) -> list[CaptionedImage]:
    """``n`` scenes of one split from item ``images`` (N, 28, 28) with ``labels`` (N,)."""
    rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
    by_kind = [np.flatnonzero(labels == k) for k in range(len(KINDS))]
    out = []
    while len(out) < n:
        count = int(rng.integers(2, 5))
        kinds = rng.integers(0, len(KINDS), count).tolist()
        if held_out(kinds) != (split == "test"):
            continue  # train/val: no held-out pair; test: at least one
        cells = sorted(rng.choice(4, count, replace=False).tolist())
        canvas = np.zeros((CANVAS, CANVAS), dtype=np.uint8)  # black, as Fashion-MNIST's ground
        for cell, kind in zip(cells, kinds, strict=True):
            item = images[by_kind[kind][rng.integers(len(by_kind[kind]))]]  # (28, 28)
            y, x = (cell // 2) * CELL, (cell % 2) * CELL
            y, x = y + int(rng.integers(0, JITTER + 1)), x + int(rng.integers(0, JITTER + 1))
            canvas[y : y + ITEM, x : x + ITEM] = np.maximum(canvas[y : y + ITEM, x : x + ITEM],
                                                            item)  # fmt: skip
        captions = describe(dict(zip(cells, kinds, strict=True)))
        order = rng.permutation(len(captions)).tolist()  # which phrasings are trained on
        out.append(CaptionedImage(
            f"{split}-{len(out):05d}", torch.from_numpy(canvas[None].copy()),
            [captions[i] for i in order], [KINDS[k] for k in kinds], split, TRAIN_CAPTIONS,
        ))  # fmt: skip
    return out


def load_scenes(sizes: dict[str, int] | None = None, seed: int = SEED) -> list[CaptionedImage]:
    """The scenes of every split (``SIZES`` unless given), the same for the same seed."""
    from rnnkit.data.named.debs import deb_files

    sizes = sizes or SIZES
    raw = deb_files("dataset-fashion-mnist", FILES)
    tr_x, tr_y, te_x, te_y = (read_idx(raw[f]) for f in FILES)
    half = len(te_x) // 2  # validation items from one half of the test file, test from the other
    pools = {"train": (tr_x, tr_y), "val": (te_x[:half], te_y[:half]),
             "test": (te_x[half:], te_y[half:])}  # fmt: skip
    return [s for split, n in sizes.items() for s in generate(split, n, *pools[split], seed)]


register(
    NamedDataset(
        name="scenes",
        task="caption",
        description="2-4 Fashion-MNIST items on a canvas, captioned from the layout; test "
        "scenes hold item pairs never seen together in training",
        source="Debian dataset-fashion-mnist (Zalando Research)",
        license="MIT",
        load=load_scenes,
    )
)
