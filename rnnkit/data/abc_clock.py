"""Where each token of a tune leaves the bar: the clock a tune model is given beside the tokens.

The tokens (``rnnkit.data.abc``) never say how full a bar is; a model that must close each bar
after exactly the meter's length has to count lengths over dozens of tokens. ``BarClock`` does
the counting as the tokens come, one at a time (so a sampler can run it on its own output):
after each token it knows how much of the current bar has been played, in eighths, as
``rnnkit.scoring.tunes.perform`` plays it:

- a note or rest ``z`` lasts one eighth until a length token after it (``2``, ``/2``, ``3/2``)
  says otherwise;
- broken rhythm ``>`` ``<`` ``>>`` ``<<`` lengthens (shortens) the note before it and shortens
  (lengthens) the one after it (``A > B``: A lasts 3/2, B 1/2);
- a tuplet ``(p`` plays its next p notes in the time of q (``(3``: three in the time of two);
- a bar line or ending starts a new bar; the header tokens (``M:..``, ``K:..``) and ``<s>`` are
  before any bar.

A pickup is simply a first bar that closes early. What the model is given is not the raw
position but what is LEFT of the bar (``bar_class``): "exactly full" and "already too long" are
then the same classes in every meter, and the class says how much room the next notes have.
Right after a note the clock does not yet know its length (a length token may follow), so it
does not pass off the one-eighth guess as settled: the class is then what was left when the
note began, in classes of their own ("pending"). Settled "full" thus always means a bar line is
due, and settled "over" always means the bar is already too long.
The clock never raises: a token out of place (a length after a bar line, ``>`` with no note
before it) changes nothing, since a model's samples must be clocked whatever they hold.
"""

from __future__ import annotations

import math
from fractions import Fraction

from rnnkit.data.abc import BARS, ENDINGS, LENGTH_TOKEN, NOTE_TOKEN, bar_length, parse_meter

BROKEN = {  # (first note's factor, second note's)
    ">": (Fraction(3, 2), Fraction(1, 2)),
    "<": (Fraction(1, 2), Fraction(3, 2)),
    ">>": (Fraction(7, 4), Fraction(1, 4)),
    "<<": (Fraction(1, 4), Fraction(7, 4)),
}
TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}  # (p: p notes in the time of q; 5, 7, 9: by the meter

SPECIAL = {"<s>", "</s>", "<pad>", "<unk>"}  # the model's own tokens: no time passes

# bar classes: what is left of the bar after a token, in sixteenths rounded up
OUTSIDE = 0  # no bar yet: <s>, the header tokens, padding
FULL = 1  # the bar holds exactly the meter's length
OVER = 2  # the bar is already longer than the meter
MAX_LEFT = 24  # sixteenths; more left than this (a bar longer than 12/8) is the last class
SETTLED = 3 + MAX_LEFT  # OUTSIDE, FULL, OVER, then 1..MAX_LEFT sixteenths left
NUM_CLASSES = 2 * SETTLED  # then the same for a note whose length may still change


def length_of(token: str) -> Fraction:
    """A length token in eighths (``2`` -> 2, ``/2`` -> 1/2, ``3/2`` -> 3/2)."""
    num, _, den = token.partition("/")
    return Fraction(int(num) if num else 1, int(den) if den else 1)


class BarClock:
    """Counts the eighths played in the current bar, one token at a time.

    ``push(token)`` returns the position in the bar after ``token`` (eighths since the last
    bar line; ``None`` before the meter token and until the body starts)."""

    def __init__(self) -> None:
        self.full: Fraction | None = None  # eighths in a bar, from the meter token
        self.compound = False
        self.now: Fraction | None = None  # eighths into the current bar
        self.last: Fraction | None = None  # the last note's played length (None: no note)
        self.last_scale = Fraction(1)  # what its written length is multiplied by
        self.next_scale = Fraction(1)  # broken rhythm's factor for the next note
        self.tuplet_left, self.tuplet_scale = 0, Fraction(1)
        self.pending = False  # the last token was a note whose length token may follow

    @property
    def left(self) -> Fraction | None:
        """Eighths left in the current bar (negative: over; None: no meter or no body yet)."""
        if self.full is None or self.now is None:
            return None
        return self.full - self.now

    def push(self, token: str) -> Fraction | None:
        if token.startswith("M:"):
            try:
                meter = parse_meter(token[2:])
            except ValueError:  # TuneError: a meter this reader does not know
                return self.now
            self.full = bar_length(meter)
            beats = int(meter.split("/")[0])
            self.compound = beats % 3 == 0 and beats > 3
            return self.now
        if token.startswith("K:") or token in SPECIAL:
            return self.now
        if self.now is None:
            self.now = Fraction(0)  # the first body token opens the first bar (maybe a pickup)
        self.pending = bool(NOTE_TOKEN.fullmatch(token))
        if token in BARS or token in ENDINGS:
            self.now, self.last = Fraction(0), None
        elif NOTE_TOKEN.fullmatch(token):
            scale = self.next_scale
            self.next_scale = Fraction(1)
            if self.tuplet_left:
                scale *= self.tuplet_scale
                self.tuplet_left -= 1
            self.last, self.last_scale = scale, scale
            self.now += scale
        elif LENGTH_TOKEN.fullmatch(token):
            if self.last is not None:  # the note before lasts this many eighths, not one
                played = length_of(token) * self.last_scale
                self.now += played - self.last
                self.last = played
        elif token in BROKEN:
            if self.last is not None:
                first, second = BROKEN[token]
                self.now += self.last * (first - 1)
                self.last *= first
                self.next_scale = second
        elif token.startswith("(") and token[1:].isdigit():
            p = int(token[1:])
            if p > 1:
                q = TUPLET_Q.get(p, 3 if self.compound else 2)
                self.tuplet_left, self.tuplet_scale = p, Fraction(q, p)
        return self.now

    def bar_class(self) -> int:
        """The class of what is left of the bar now (``OUTSIDE``, ``FULL``, ``OVER`` or
        ``2 + ceil(16ths left)``, at most ``SETTLED - 1``); right after a note, what was left
        when it began, plus ``SETTLED``."""
        left = self.left
        if left is None:
            return OUTSIDE
        offset = 0
        if self.pending:
            left, offset = left + self.last, SETTLED
        if left == 0:
            return offset + FULL
        if left < 0:
            return offset + OVER
        return offset + 2 + min(math.ceil(2 * left), MAX_LEFT)

    def class_after(self, token: str) -> int:
        """``push(token)``, then the bar class."""
        self.push(token)
        return self.bar_class()


def bar_classes(tokens: list[str]) -> list[int]:
    """The bar class after each of ``tokens`` (a whole sequence, ``<s>`` and header included)."""
    clock = BarClock()
    return [clock.class_after(t) for t in tokens]
