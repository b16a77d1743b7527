"""Which token may come next in a tune: the reader's grammar and the bar rule, for a sampler.

A model drawn at temperature 1 sometimes draws a token that no later token can mend: a length
with no note before it (the reader refuses the tune), a note when the bar is already full (the
bar will be too long), a plain bar line in mid-tune when the bar is short. ``TuneRules`` follows
a tune as its tokens come and says, for any next token, whether the tune can still be well
formed after it, by the rules of ``rnnkit.scoring.tunes`` (the checks the figures are
measured with) and ``rnnkit.data.abc.body_text``:

- the meter token first, the mode token second, neither again; never ``<s>``, ``<pad>`` or
  ``<unk>``;
- a length token only right after a note or rest;
- broken rhythm only after a note (or its length), and not twice in a row;
- a tuplet ``(p`` only when the last one's notes have all come and the bar has room for its p
  notes at the shortest length (else a sampler refused every note after it could draw
  ``(3 (3 (3`` ... without end);
- a note or rest only where the bar still has room for it at the shortest length the
  vocabulary can give it (a length token after it may shorten it);
- a length token or broken rhythm only if the bar does not become longer than the meter;
- a bar line only if the bar is not longer than the meter, and, when the bar is short, only
  where ``music_metrics`` allows a short bar: the first bar (a pickup), or next to a section
  line or an ending;
- the end token only after at least one full bar and not after broken rhythm.

A sampler that draws again whenever a token is refused samples from the model's distribution
restricted to the tokens allowed, renormalised. The model is unchanged and so are its
likelihoods; only the drawing is. The rules never refuse every token: a bar line that closes a
full bar, or a section line, is always allowed.

``RuleMasks`` gives the same verdicts for every position of whole tunes at once, as rows of a
table of the distinct masks (a few hundred serve a whole collection), for a training loss that
teaches the model itself to leave the refused tokens alone (``rnnkit.tasks.music.task``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from fractions import Fraction

import torch
from torch import Tensor

from rnnkit.data.abc import (
    BARS,
    ENDINGS,
    LENGTH_TOKEN,
    NOTE_TOKEN,
    SECTION,
    Mark,
    add_bar,
    bar_fault_of,
)
from rnnkit.data.abc_clock import BROKEN, SPECIAL, BarClock, length_of

END = "</s>"


class TuneRules:
    """Follows one tune's tokens (``push``) and says which next token keeps it well formed
    (``allows``). ``tokens``: the vocabulary the sampler draws from; its shortest length token
    is how short a note can be made, so a note is allowed only where that much room is left
    (then some length token always fits it)."""

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        lengths = [length_of(t) for t in tokens if LENGTH_TOKEN.fullmatch(t)]
        self.shortest = min([Fraction(1), *lengths])  # eighths; a note is one without a length
        self.clock = BarClock()
        self.count = 0  # tokens pushed (after <s>)
        self.previous = ""  # the last token pushed
        self.bars = 0  # bars closed that held any time (empty ones are not bars)
        self.opened = "start"  # the line that opened the current bar
        self.had_full = False  # a bar of exactly the meter's length has closed

    def push(self, token: str) -> None:
        if token in BARS or token in ENDINGS:
            played = self.clock.now or 0
            if played > 0:
                self.bars += 1
                self.had_full |= played == self.clock.full
            # the reader merges a line into a bar line just before it (``| :|`` is ``:|``)
            lines = [Mark(self.opened)] if self.previous in BARS or self.previous in ENDINGS else []
            add_bar(lines, token)
            self.opened = lines[-1].token
        self.clock.push(token)
        self.previous = token
        self.count += 1

    def state(self) -> tuple:
        """Everything ``allows`` reads: tunes in the same state allow the same next tokens."""
        c = self.clock
        return (
            min(self.count, 2), c.full, c.compound, c.now, c.last, c.last_scale, c.next_scale,
            c.tuplet_left, c.tuplet_scale, c.pending, self.had_full, self.bars == 0,
            self.opened in SECTION,
        )  # fmt: skip

    def allows(self, token: str) -> bool:
        """Whether the tune can still be well formed with ``token`` next."""
        if token in SPECIAL and token != END:
            return False  # <s>, <pad>, <unk>: never inside a tune
        if self.count == 0:
            return token.startswith("M:")
        if self.count == 1:
            return token.startswith("K:")
        if token[:2] in ("M:", "K:"):
            return False
        clock = self.clock
        is_note = bool(NOTE_TOKEN.fullmatch(token))
        if token == END:
            now = clock.now or 0
            return (
                clock.next_scale == 1
                and (self.had_full or now == clock.full)
                and (clock.left is None or clock.left >= 0)
            )
        if LENGTH_TOKEN.fullmatch(token) and not clock.pending:
            return False  # a length after anything but a note or rest
        if token in BROKEN and (clock.last is None or clock.next_scale != 1):
            return False
        if clock.full is None:
            return True  # no meter: only the grammar can be checked
        if token in BARS or token in ENDINGS:
            played = clock.now or 0
            return bar_fault_of(played, clock.full, self.bars == 0, self.opened, token) is None
        after = copy.copy(clock)
        after.push(token)
        if token.startswith("(") and token[1:].isdigit():  # a tuplet: room for all its notes?
            if clock.tuplet_left:
                return False  # the last tuplet's notes have not all come
            return after.left >= after.tuplet_scale * after.tuplet_left * self.shortest
        if is_note:  # its length may still change: is there room for the shortest?
            return after.left + after.last >= after.last_scale * self.shortest
        return after.left is None or after.left >= 0


class RuleMasks:
    """Which tokens of ``vocab`` the rules allow next, at every position of whole tunes.

    ``rows(tokens)`` follows a tune (``<s>`` first, as a model reads it) and gives, for each
    token, the row of ``table`` (M, V) that holds the mask of the tokens allowed after it. Masks
    are computed once per rules state (``TuneRules.state``), so a collection costs a dictionary
    lookup per token."""

    def __init__(self, vocab: list[str]) -> None:
        self.vocab = vocab
        self._by_state: dict[tuple, int] = {}
        self._by_mask: dict[tuple[bool, ...], int] = {}
        self._table: Tensor | None = None

    def rows(self, tokens: list[str]) -> list[int]:
        """The mask row after each of ``tokens``; ``<s>`` is the start, pushed as nothing."""
        rules = TuneRules(self.vocab)
        out = []
        for token in tokens:
            if token != "<s>":
                rules.push(token)
            key = rules.state()
            row = self._by_state.get(key)
            if row is None:
                mask = tuple(rules.allows(t) for t in self.vocab)
                row = self._by_mask.setdefault(mask, len(self._by_mask))
                self._by_state[key] = row
                self._table = None
            out.append(row)
        return out

    @property
    def table(self) -> Tensor:
        """(M, V) bool: row m allows token v."""
        if self._table is None:
            self._table = torch.tensor(list(self._by_mask), dtype=torch.bool).reshape(
                len(self._by_mask), len(self.vocab)
            )
        return self._table
