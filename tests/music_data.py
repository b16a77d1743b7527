"""Small ABC tune files for the music tests: random tunes whose bars all hold the meter."""

from __future__ import annotations

import random
from pathlib import Path

METERS = {"6/8": 6, "2/4": 4, "4/4": 8, "3/4": 6}
KEYS = {"D": "D", "G": "G", "Ador": "A", "Em": "E", "Amix": "A"}  # key -> its tonic letter
NOTES = "DEFGABcdef"


def random_bar(rng: random.Random, eighths: int) -> str:
    out, left = [], eighths
    while left:
        kind = rng.random()
        if left >= 2 and kind < 0.15:
            out.append(f"{rng.choice(NOTES)}>{rng.choice(NOTES)}")  # two eighths
            left -= 2
        elif left >= 2 and kind < 0.25:
            out.append("(3" + "".join(rng.choice(NOTES) for _ in range(3)))  # two eighths
            left -= 2
        elif left >= 2 and kind < 0.45:
            out.append(rng.choice(NOTES) + "2")
            left -= 2
        else:
            out.append(rng.choice(NOTES))
            left -= 1
    return "".join(out)


def tune(rng: random.Random, number: int) -> str:
    meter = rng.choice(list(METERS))
    key = rng.choice(list(KEYS))
    full = METERS[meter]
    bars = [random_bar(rng, full) for _ in range(7)]
    last = random_bar(rng, full - 2) + KEYS[key].lower() + "2"  # ends on the tonic
    body = f"|: {' | '.join(bars[:3])} | {bars[3]} :|\n{' | '.join(bars[4:])} | {last} |]"
    return f'X:{number}\nT:Tune {number}\nM:{meter}\nL:1/8\nK:{key}\n"Am"~{body}\n'


def write_tunes(path: Path, n: int, seed: int = 0) -> Path:
    """``n`` random tunes in one .abc collection at ``path``."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tune(rng, i + 1) for i in range(n)))
    return path
