"""How a tune is played (lengths after broken rhythm and tuplets) and the checks of a generated
tune: does it parse, do its bars have the meter's length, does it end on the tonic.

Bar rule: every bar holds exactly one full bar of the meter, except that a short bar is allowed
first (a pickup), at the end, and next to a section line or an ending (``||``, ``|]``, ``|:``,
``:|``, ``::``, ``|1``, ``|2``, ``:|2``: transcriptions often start an ending mid-bar); a bar
longer than the meter never is. The rule
is checked on the tune's own tokens (in eighths), so it is the same for every model.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from dataclasses import dataclass
from fractions import Fraction

from rnnkit.data.abc import (
    BARS,
    ENDINGS,
    Mark,
    Note,
    TuneError,
    bar_fault_of,
    bar_length,
    body_text,
    header_of,
    parse_body,
    tune_text,
)
from rnnkit.data.abc_clock import BROKEN, TUPLET_Q

CHECKS = ("finished", "reads", "parses_music21", "bars_ok", "ends_on_tonic", "parses_and_bars")


@dataclass
class Played:
    """One note or rest as played: onset and length in eighths, MIDI pitch (None: a rest)."""

    onset: Fraction
    length: Fraction
    pitch: int | None


def perform(tokens: list[str]) -> tuple[list[Played], list[tuple[Fraction, str, str]]]:
    """The notes of a token sequence as played, and its bars as (length, the line that opens
    it, the line that closes it; "start" and "end" at the tune's ends)."""
    meter, key, body = header_of(tokens)
    compound = int(meter.split("/")[0]) % 3 == 0 and int(meter.split("/")[0]) > 3
    events = parse_body(body_text(body), key)
    played: list[Played] = []
    bars: list[tuple[Fraction, str, str]] = []
    now, bar_start, opened = Fraction(0), Fraction(0), "start"
    next_scale, tuplet_left, tuplet_scale = Fraction(1), 0, Fraction(1)
    for e in events:
        if isinstance(e, Mark):
            t = e.token
            if t in BARS or t in ENDINGS:
                bars.append((now - bar_start, opened, t))
                bar_start, opened = now, t
            elif t in BROKEN:
                if not played or next_scale != 1:
                    raise TuneError(f"broken rhythm {t!r} without a note before it")
                first, second = BROKEN[t]
                last = played[-1]
                now += last.length * (first - 1)
                last.length *= first
                next_scale = second
            else:  # a tuplet "(p"
                p = int(t[1:])
                q = TUPLET_Q.get(p, 3 if compound else 2)
                tuplet_left, tuplet_scale = p, Fraction(q, p)
            continue
        length = e.length * next_scale
        next_scale = Fraction(1)
        if tuplet_left:
            length *= tuplet_scale
            tuplet_left -= 1
        played.append(Played(now, length, e.pitch if isinstance(e, Note) else None))
        now += length
    if next_scale != 1:
        raise TuneError("broken rhythm at the end of the tune")
    bars.append((now - bar_start, opened, "end"))
    return played, bars


def bar_fault(tokens: list[str]) -> tuple[str, int, int] | None:
    """Why the bars of a tune break the rule of the module docstring, or None: (what, the
    first bad bar's number from 0, how many bars), what being ``overfull`` (a bar longer than
    the meter), ``short`` (a short bar away from the tune's ends and section lines),
    ``no full bar`` or ``unplayable`` (``perform`` could not play it)."""
    try:
        meter = header_of(tokens)[0]
        played, bars = perform(tokens)
    except (TuneError, ValueError):
        return ("unplayable", 0, 0)
    full = bar_length(meter)
    bars = [b for b in bars if b[0] > 0]  # "|:" at the start, "|]" at the end: no bar
    for i, (length, opened, closed) in enumerate(bars):
        what = bar_fault_of(length, full, i == 0, opened, closed)
        if what is not None:
            return (what, i, len(bars))
    if not any(length == full for length, _, _ in bars):
        return ("no full bar", 0, len(bars))
    return None


def bars_ok(tokens: list[str]) -> bool:
    """Every bar the meter's length, with the short bars the module docstring allows."""
    return bar_fault(tokens) is None


def ends_on_tonic(tokens: list[str]) -> bool:
    """The last note is a C (the tokens are in C, whatever the mode)."""
    try:
        notes = [p for p in perform(tokens)[0] if p.pitch is not None]
    except (TuneError, ValueError):
        return False
    return bool(notes) and notes[-1].pitch % 12 == 0


def parses_with_music21(abc: str) -> bool:
    """music21 reads the ABC text into a score with at least one note, without raising."""
    import music21

    quiet = io.StringIO()  # music21 prints what it could not beam; that is not an error
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = music21.converter.parse(abc, format="abc")
        return len(score.recurse().notes) > 0
    except Exception:  # music21 raises many kinds; any of them is "does not parse"
        return False


def fault(tokens: list[str], done: bool, music21: bool = True) -> str | None:
    """The first reason a tune fails "parses and has well-formed bars" (None: it passes):
    ``unfinished``, ``unreadable: <why>`` (rnnkit's reader, the token named in its message
    dropped), ``music21``, or the bar fault (``bar_fault``) and where: ``overfull, last bar``,
    ``short, bar 1`` ... (``first bar``, ``last bar`` or ``inside``)."""
    if not done:
        return "unfinished"
    try:
        abc = tune_text(tokens)
    except (TuneError, ValueError) as exc:
        return "unreadable: " + re.sub(r"'[^']*'", "X", str(exc))
    if music21 and not parses_with_music21(abc):
        return "music21"
    found = bar_fault(tokens)
    if found is None:
        return None
    what, i, n = found
    where = "first bar" if i == 0 else "last bar" if i == n - 1 else "inside"
    return f"{what}, {where}" if what in ("overfull", "short") else what


def tune_checks(tunes: list[tuple[list[str], bool]], music21: bool = True) -> dict:
    """Shares of ``tunes`` ((tokens, meter and key first; whether the end token came)) that were
    finished, read back as ABC, parse with music21, have well-formed bars, end on the tonic,
    and that both parse and have well-formed bars."""
    n = len(tunes)
    rows = []
    for tokens, done in tunes:
        try:
            abc = tune_text(tokens)
            reads = True
        except (TuneError, ValueError):
            abc, reads = "", False
        parse = reads and done and (parses_with_music21(abc) if music21 else True)
        bars = reads and done and bars_ok(tokens)
        tonic = reads and done and ends_on_tonic(tokens)
        rows.append((done, reads, parse, bars, tonic, parse and bars))
    out = {"tunes": n}
    for j, name in enumerate(CHECKS):
        if name == "parses_music21" and not music21:
            continue
        out[name] = sum(r[j] for r in rows) / max(n, 1)
    return out


def with_redraws(checks: dict, redraws: list[int]) -> dict:
    """``checks`` with the share of tunes in which the bar rules refused a draw, and the mean
    draws refused per tune (when the rules were used)."""
    if redraws:
        checks["redrawn"] = sum(r > 0 for r in redraws) / len(redraws)
        checks["redraws_per_tune"] = sum(redraws) / len(redraws)
    return checks


def format_checks(checks: dict) -> str:
    """One line of ``tune_checks``' shares (and, for tunes drawn with the bar rules, the share of
    tunes in which they refused a draw and the draws refused per tune)."""
    shares = "  ".join(f"{k} {v:.0%}" for k, v in checks.items() if k in CHECKS)
    if "redrawn" in checks:
        shares += (f"  tunes redrawn {checks['redrawn']:.0%} "
                   f"({checks['redraws_per_tune']:.1f} draws refused per tune)")  # fmt: skip
    return shares
