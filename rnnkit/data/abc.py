"""ABC folk tunes as token sequences, the way folk-rnn reads them (Sturm et al. 2016).

A tune becomes ``["M:6/8", "K:Cmaj", "|:", "G", "E", "/2", ...]``: its meter and mode first
(the conditioning the model is given or samples), then the body with every note a token of its
accidental, letter and octave marks (``^F``, ``c'``, ``B,``), its length in eighths as a token
of its own when it is not one eighth (``2``, ``/2``, ``3/2``), rests ``z``, bar lines ``|``
``||`` ``|]``, repeats ``|:`` ``:|`` ``::``, endings ``|1`` ``|2`` ``:|2``, broken rhythm ``>``
``<`` and tuplets ``(3``. Every tune is transposed to the root C keeping its mode (a D dorian
tune becomes C dorian, spelled with C dorian's signature), and every length is written in
eighths whatever the tune's ``L:``. Chord symbols, grace notes, decorations, slurs, ties,
lyrics and comments are dropped; a chord ``[ceg]`` keeps its top note.

What is not modelled (a mid-tune key, meter or length change, a second voice, multi-bar rests,
a mode or meter this reader does not know) raises ``TuneError``; collections skip and count
such tunes. The same reader parses the model's own output back into notes (``parse_body``), for
MIDI, piano rolls and the bar checks.

Pitches are diatonic steps (``7 * octave + letter``, middle C = step 28 = MIDI 60) with an
alteration in semitones, so a transposition by a whole number of steps keeps the spelling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

LETTERS = "CDEFGAB"
NATURAL = (0, 2, 4, 5, 7, 9, 11)  # semitones of the letters above C
MIDDLE_C = 28  # the step of ABC's "C"
EIGHTH = Fraction(1, 8)  # every token length is in eighths (folk-rnn's L:1/8)
# mode -> (letter steps, semitones) from the mode's tonic down to its major scale's tonic
MODES = {"maj": (0, 0), "dor": (1, 2), "phr": (2, 4), "lyd": (3, 5), "mix": (4, 7),
         "min": (5, 9), "loc": (6, 11)}  # fmt: skip
MODE_NAMES = {"": "maj", "m": "min", "ion": "maj", "aeo": "min", **{m: m for m in MODES}}
ABC_MODE = {"maj": "", "min": "m", "dor": "dor", "phr": "phr", "lyd": "lyd", "mix": "mix",
            "loc": "loc"}  # how a written header spells the mode  # fmt: skip
BARS = ("|", "||", "|]", "|:", ":|", "::")
ENDINGS = ("|1", "|2", ":|2")
SECTION = frozenset({"||", "|]", "|:", ":|", "::", *ENDINGS})  # lines a short bar may touch


class TuneError(ValueError):
    """A tune this reader cannot turn into tokens (the message says why)."""


@dataclass(frozen=True)
class Key:
    """A tonic (letter 0-6 from C, alteration in semitones) and a mode (``MODES``)."""

    letter: int
    alter: int
    mode: str

    @property
    def semitone(self) -> int:
        return NATURAL[self.letter] + self.alter

    def signature(self) -> dict[int, int]:
        """Letter -> its alteration in this key (e.g. D major: F and C -> +1)."""
        down, semis = MODES[self.mode]
        root_letter, root_semi = (self.letter - down) % 7, self.semitone - semis
        sig = {}
        for i, interval in enumerate(NATURAL):  # the major scale on the root
            letter = (root_letter + i) % 7
            alter = (root_semi + interval - NATURAL[letter]) % 12
            sig[letter] = alter - 12 if alter > 6 else alter
        return sig

    def name(self) -> str:
        """``Dmaj``, ``F#min``, ``Bbdor``: the token's spelling after ``K:``."""
        acc = {-2: "bb", -1: "b", 0: "", 1: "#", 2: "##"}[self.alter]
        return f"{LETTERS[self.letter]}{acc}{self.mode}"

    def abc(self) -> str:
        acc = {-2: "bb", -1: "b", 0: "", 1: "#", 2: "##"}[self.alter]
        return f"{LETTERS[self.letter]}{acc}{ABC_MODE[self.mode]}"


_KEY = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)")


def parse_key(text: str) -> Key:
    """A ``K:`` field (``G``, ``Gm``, ``E Minor``, ``Ador``, ``Bb mix``, ``Dmaj``) as a Key."""
    m = _KEY.match(text)
    if not m or text.strip().lower().startswith(("hp", "none")):
        raise TuneError(f"key {text.strip()!r} is not a tonic and mode")
    word = m.group(3).lower()
    mode = MODE_NAMES.get(word[:3] if len(word) > 1 else word)
    if mode is None and word in ("clef", "treble", "bass", "exp"):  # no mode: major
        mode = "maj"
    if mode is None:
        raise TuneError(f"unknown mode in key {text.strip()!r}")
    return Key(LETTERS.index(m.group(1).upper()), {"": 0, "#": 1, "b": -1}[m.group(2)], mode)


def parse_meter(text: str) -> str:
    """``M:`` field as ``6/8`` (``C`` is 4/4, ``C|`` is 2/2)."""
    text = text.strip().split("%")[0].strip()
    text = {"C": "4/4", "C|": "2/2"}.get(text, text)
    if not re.fullmatch(r"[1-9]\d?/(1|2|4|8|16)", text):
        raise TuneError(f"meter {text!r} is not a simple fraction")
    return text


def parse_unit(text: str) -> Fraction:
    """``L:`` field (the unit note length) as a fraction: ``1/8``, ``1/16``..."""
    words = text.split()
    if not words or not re.fullmatch(r"1/(1|2|4|8|16|32|64)", words[0]):
        raise TuneError(f"unit note length {text.strip()!r} is not 1/1, 1/2, 1/4 ... 1/64")
    return Fraction(words[0])


def bar_length(meter: str) -> Fraction:
    """A full bar of ``meter`` in eighths (6/8 -> 6, 2/4 -> 4)."""
    return Fraction(meter) / EIGHTH


def bar_fault_of(length: Fraction, full: Fraction, first: bool, opened: str, closed: str
                 ) -> str | None:  # fmt: skip
    """The bar rule, written once for the checks the figures use (``rnnkit.scoring.tunes``)
    and for the sampler's rules (``rnnkit.data.abc_rules``): a bar of ``length`` eighths in a
    meter of ``full`` is ``"overfull"`` when longer than the meter, ``"short"`` when shorter
    and neither the tune's ``first`` bar (a pickup), nor ``opened`` or ``closed`` by a section
    line or an ending, nor the tune's end (``closed == "end"``); else None. A bar of no
    length (``|:`` at the start, ``|]`` at the end) is no bar and never at fault."""
    if length == 0:
        return None
    if length > full:
        return "overfull"
    if length < full and not (first or opened in SECTION or closed in SECTION or closed == "end"):
        return "short"
    return None


def duration_token(eighths: Fraction) -> str:
    """The length token of a note lasting ``eighths`` eighths ('' for one eighth)."""
    if eighths == 1:
        return ""
    if eighths.denominator == 1:
        return str(eighths.numerator)
    if eighths.numerator == 1:
        return f"/{eighths.denominator}"
    return f"{eighths.numerator}/{eighths.denominator}"


def note_name(step: int, accidental: str = "") -> str:
    """ABC spelling of diatonic ``step`` (28 = ``C``, 35 = ``c``, 42 = ``c'``, 21 = ``C,``)."""
    octave, letter = divmod(step, 7)
    if octave >= 5:
        return accidental + LETTERS[letter].lower() + "'" * (octave - 5)
    return accidental + LETTERS[letter] + "," * (4 - octave)


def midi_pitch(step: int, alter: int) -> int:
    octave, letter = divmod(step, 7)
    return 12 * (octave + 1) + NATURAL[letter] + alter


# -- the body: ABC text -> events ----------------------------------------------------------------


@dataclass
class Note:
    step: int  # diatonic step, middle C = 28
    alter: int  # sounding alteration in semitones (key signature and accidentals applied)
    length: Fraction  # written length in eighths (before broken rhythm and tuplets)

    @property
    def pitch(self) -> int:
        return midi_pitch(self.step, self.alter)


@dataclass
class Rest:
    length: Fraction


@dataclass
class Mark:
    """A bar line, an ending, ``>``/``<`` or a tuplet ``(3``: kept as its token."""

    token: str


Event = Note | Rest | Mark

# dropped: spaces, continuations, chord symbols, decorations, grace notes, slurs, ties
_SKIP = re.compile(
    r'\s+|`|\\|y|"[^"]*"|![^!\n]*!|\+[^+\n]*\+|\{[^}]*\}|[().\-~HIJKLMNOPQRSTUVWhijklmnopqrstuvw]'
)
_FIELD = re.compile(r"\[([A-Za-z]):[^\]]*\]")
_BAR = re.compile(r"(:*)(\[?\|+\]?)(:*)\s*(?:\[?([1-9])(?![/\d]))?|(::+)|\[([1-9])(?![/\d])")
_TUPLET = re.compile(r"\(([2-9])(:\d*)?(:\d*)?")
_NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)(\d*)(/*)(\d*)")
_REST = re.compile(r"([zx])(\d*)(/*)(\d*)")
_BROKEN = re.compile(r"[<>]{1,3}")
_CHORD_LENGTH = re.compile(r"(\d*)(/*)(\d*)")
LENGTH_TOKEN = re.compile(r"\d+|\d*/\d+")  # a length token: 2, /2, 3/2
NOTE_TOKEN = re.compile(r"(\^\^|\^|__|_|=)?[A-Ga-g][,']*|z")  # a note or rest token: ^f, c', z
_ACCIDENTAL = {"^^": 2, "^": 1, "__": -2, "_": -1, "=": 0}


def _length(num: str, slashes: str, den: str) -> Fraction:
    n = Fraction(int(num)) if num else Fraction(1)
    if slashes:
        d = int(den) if den else 2 ** len(slashes)
        if d == 0:
            raise TuneError("a note length divided by zero")
        n /= d
    if n <= 0:
        raise TuneError("a note of length zero")
    return n


def _bar_token(lead: str, bars: str, trail: str) -> str:
    if lead and trail:
        return "::"
    if lead:
        return ":|"
    if trail:
        return "|:"
    return bars if bars in ("|", "||", "|]") else "||"  # "[|", "|||": a section line


def add_bar(events: list[Event], token: str) -> None:
    """Append a bar line, merged with a bar line just before it (``|`` at the end of one line
    and at the start of the next is one bar line; ``:|`` then ``|:`` is ``::``)."""
    prev = events[-1].token if events and isinstance(events[-1], Mark) else None
    if prev not in BARS or token in ENDINGS and prev != "|":
        events.append(Mark(token))
        return
    if token == "|" or prev == "|":
        merged = prev if token == "|" else token
    elif prev in (":|", "::") and token in ("|:", "::"):
        merged = "::"
    else:
        merged = token if token != "||" else prev
    events[-1] = Mark(merged)


def parse_body(body: str, key: Key, unit: Fraction = EIGHTH) -> list[Event]:
    """The notes, rests and marks of an ABC tune body (header fields already read).

    Accidentals hold to the end of their bar for that step; ``unit`` is the tune's ``L:``, and
    every length comes back in eighths.
    """
    signature = key.signature()
    scale = unit / EIGHTH
    events: list[Event] = []
    bar_accidentals: dict[int, int] = {}
    i = 0
    while i < len(body):
        c = body[i]
        if c == "%":  # a comment to the end of the line
            j = body.find("\n", i)
            i = len(body) if j < 0 else j
            continue
        if (m := _FIELD.match(body, i)) is not None:
            if m.group(1) in "KML":
                raise TuneError(f"a change of {m.group(1)}: inside the tune")
            i = m.end()
            continue
        if c in "|:[" and (m := _BAR.match(body, i)) and m.group(0).strip(" ["):
            if m.group(5):
                token = "::"
            elif m.group(6):  # "[2" after a bar line already read
                token = None
            else:
                token = _bar_token(m.group(1), m.group(2), m.group(3))
            ending = m.group(4) or m.group(6)
            if ending and ending not in "12":
                raise TuneError(f"ending {ending} (only first and second endings are kept)")
            if token is None:
                prev = events[-1].token if events and isinstance(events[-1], Mark) else None
                if prev not in BARS:
                    token, prev = "|", None
                else:
                    events.pop()
                    token = prev
            if ending:
                token = {"|": "|", ":|": ":|"}.get(token, "|") + ending
                if token not in ENDINGS:
                    raise TuneError(f"ending {token!r} is not one this reader keeps")
            add_bar(events, token)
            bar_accidentals.clear()
            i = m.end()
            continue
        if (m := _TUPLET.match(body, i)) is not None:
            if m.group(2) and m.group(2) != ":" or m.group(3) and m.group(3) != ":":
                raise TuneError(f"tuplet {m.group(0)!r} with its own ratio")
            events.append(Mark("(" + m.group(1)))
            i = m.end()
            continue
        if (m := _SKIP.match(body, i)) is not None:
            i = m.end()
            continue
        if (m := _BROKEN.match(body, i)) is not None:
            if len(m.group(0)) > 2 or len(set(m.group(0))) > 1:
                raise TuneError(f"broken rhythm {m.group(0)!r}")
            events.append(Mark(m.group(0)))
            i = m.end()
            continue
        if c == "[":  # a chord: keep its top note
            j = body.find("]", i)
            if j < 0:
                raise TuneError("a chord that is never closed")
            inner = parse_body(body[i + 1 : j], key, unit)
            notes = [e for e in inner if isinstance(e, Note)]
            if not notes or len(notes) != len(inner):
                raise TuneError(f"chord {body[i : j + 1]!r} holds more than notes")
            m = _CHORD_LENGTH.match(body, j + 1)
            top = max(notes, key=lambda n: n.pitch)
            events.append(Note(top.step, top.alter, top.length * _length(*m.groups())))
            i = m.end()
            continue
        if (m := _NOTE.match(body, i)) is not None:
            acc, letter, marks, num, slashes, den = m.groups()
            step = LETTERS.index(letter.upper()) + MIDDLE_C + (7 if letter.islower() else 0)
            step += 7 * marks.count("'") - 7 * marks.count(",")
            if acc is not None:
                bar_accidentals[step] = _ACCIDENTAL[acc]
            alter = bar_accidentals.get(step, signature[step % 7])
            events.append(Note(step, alter, _length(num, slashes, den) * scale))
            i = m.end()
            continue
        if (m := _REST.match(body, i)) is not None:
            events.append(Rest(_length(*m.groups()[1:]) * scale))
            i = m.end()
            continue
        if c in "ZX":
            raise TuneError("a multi-bar rest")
        if c == "&":
            raise TuneError("a second voice (&)")
        raise TuneError(f"unexpected {c!r} in the tune body")
    return events


# -- events <-> tokens ---------------------------------------------------------------------------


def transpose(events: list[Event], steps: int, semitones: int) -> list[Event]:
    """``events`` moved by ``steps`` diatonic steps and ``semitones``: the spelling follows the
    steps, the alteration makes up the difference."""
    out: list[Event] = []
    for e in events:
        if isinstance(e, Note):
            step = e.step + steps
            alter = e.pitch + semitones - midi_pitch(step, 0)
            if abs(alter) > 2:
                raise TuneError("a note that needs more than a double accidental")
            out.append(Note(step, alter, e.length))
        else:
            out.append(e)
    return out


def to_c(key: Key) -> tuple[int, int]:
    """(steps, semitones) that move ``key``'s tonic to the nearest C (down up to F, else up)."""
    if key.letter <= 3:
        return -key.letter, -key.semitone
    return 7 - key.letter, 12 - key.semitone


def body_tokens(events: list[Event], key: Key) -> list[str]:
    """Tokens of ``events`` written in ``key``: an accidental only where the key signature and
    the accidentals earlier in the bar would give another pitch."""
    signature = key.signature()
    tokens: list[str] = []
    bar: dict[int, int] = {}
    for e in events:
        if isinstance(e, Mark):
            tokens.append(e.token)
            if e.token in BARS or e.token in ENDINGS:
                bar.clear()
            continue
        if isinstance(e, Note):
            implied = bar.get(e.step, signature[e.step % 7])
            acc = ""
            if e.alter != implied:
                acc = {2: "^^", 1: "^", 0: "=", -1: "_", -2: "__"}[e.alter]
                bar[e.step] = e.alter
            tokens.append(note_name(e.step, acc))
        else:
            tokens.append("z")
        if e.length != 1:
            tokens.append(duration_token(e.length))
    return tokens


@dataclass
class Tune:
    """One tune's header facts and its tokens (meter and mode first, in C)."""

    title: str
    meter: str
    key: Key  # the key it was written in
    tokens: list[str]


def split_tunes(text: str) -> Iterator[str]:
    """Each tune of a collection: from its ``X:`` line to the next one (a file without X: that
    has a K: line is one tune)."""
    starts = [m.start() for m in re.finditer(r"^X:", text, re.M)]
    if not starts and re.search(r"^K:", text, re.M):
        starts = [0]
    for a, b in zip(starts, [*starts[1:], len(text)], strict=False):  # none: no tune
        yield text[a:b]


def read_tune(text: str) -> Tune:
    """One ABC tune (``X:`` to its end) as tokens in C; TuneError if it cannot be."""
    fields: dict[str, str] = {}
    lines = text.splitlines()
    for n, line in enumerate(lines):
        line = line.split("%")[0] if not line.startswith("%%") else ""
        m = re.match(r"^([A-Za-z]):(.*)$", line)
        if m and m.group(1) not in fields:
            fields[m.group(1)] = m.group(2).strip()
        if m and m.group(1) == "K":
            body_lines = lines[n + 1 :]
            break
    else:
        raise TuneError("no K: field ends the header")
    if "M" not in fields:
        raise TuneError("no meter (M:)")
    meter = parse_meter(fields["M"])
    key = parse_key(fields["K"])
    unit = parse_unit(fields["L"]) if "L" in fields else None
    if unit is None:
        unit = Fraction(1, 16) if Fraction(meter) < Fraction(3, 4) else EIGHTH
    body = []
    for line in body_lines:
        m = re.match(r"^([A-Za-z]):", line)
        if m:
            if m.group(1) in "KMLV":
                raise TuneError(f"a {m.group(1)}: field inside the tune")
            continue  # words, notes, parts: not music
        body.append(line)
    events = parse_body("\n".join(body), key, unit)
    if not any(isinstance(e, Note) for e in events):
        raise TuneError("no notes")
    c_key = Key(0, 0, key.mode)
    tokens = body_tokens(transpose(events, *to_c(key)), c_key)
    title = fields.get("T", "").strip()
    return Tune(title, meter, key, [f"M:{meter}", f"K:{c_key.name()}", *tokens])


def read_collection(text: str) -> tuple[list[Tune], int]:
    """Every tune of an ABC collection that reads, and how many were skipped."""
    tunes, skipped = [], 0
    for chunk in split_tunes(text):
        try:
            tunes.append(read_tune(chunk))
        except (TuneError, ValueError, ZeroDivisionError):
            skipped += 1
    return tunes, skipped


# -- tokens -> ABC text --------------------------------------------------------------------------


def header_of(tokens: list[str]) -> tuple[str, Key, list[str]]:
    """(meter, key, body tokens) of a token sequence that starts ``M:...``, ``K:...``."""
    if len(tokens) < 2 or not tokens[0].startswith("M:") or not tokens[1].startswith("K:"):
        raise TuneError("a tune starts with its meter and key tokens")
    return parse_meter(tokens[0][2:]), parse_key(tokens[1][2:]), tokens[2:]


def body_text(tokens: list[str], bars_per_line: int = 4) -> str:
    """ABC body text of body tokens: bar lines spaced, a line break every few bars. A token
    out of place (a length after no note, a header field in the body) is a TuneError."""
    for prev, t in zip(["|", *tokens], tokens, strict=False):
        if LENGTH_TOKEN.fullmatch(t) and not (prev == "z" or _NOTE.fullmatch(prev)):
            raise TuneError(f"length {t!r} after {prev!r}, not after a note or rest")
        if t[:2] in ("M:", "K:") or t in ("<s>", "</s>", "<pad>", "<unk>"):
            raise TuneError(f"{t!r} inside the tune body")
    out, bars = [], 0
    for t in tokens:
        if t in BARS or t in ENDINGS:
            out.append(f" {t} " if not t[-1].isdigit() else f" {t}")
            bars += 1
            if bars % bars_per_line == 0 and t not in ENDINGS:
                out.append("\n")
        else:
            out.append(t)
    return re.sub(r"[ ]*\n[ ]*", "\n", "".join(out)).strip()


def in_key(tokens: list[str], key: Key) -> list[str]:
    """Tokens (meter and key first) moved to ``key`` (of the same mode), which names the new
    key token."""
    meter, here, body = header_of(tokens)
    if key.mode != here.mode:
        raise TuneError(f"a {here.mode} tune cannot move to {key.name()}; keep the mode")
    events = parse_body(body_text(body), here)
    steps, semis = to_c(here)
    to_steps, to_semis = to_c(key)
    events = transpose(events, steps - to_steps, semis - to_semis)
    return [f"M:{meter}", f"K:{key.name()}", *body_tokens(events, key)]


def tune_text(tokens: list[str], key: Key | None = None, number: int = 1, title: str = "",
              notes: str = "") -> str:  # fmt: skip
    """A complete ABC tune (X:, T:, M:, L:1/8, K:) from tokens in C, moved to ``key`` (default:
    stay in C); ``notes`` becomes an N: line."""
    meter, c_key, _ = header_of(tokens)
    target = key or c_key
    body = in_key(tokens, target)[2:]
    head = f"X:{number}\nT:{title or f'Tune {number}'}\n" + (f"N:{notes}\n" if notes else "")
    return f"{head}M:{meter}\nL:1/8\nK:{target.abc()}\n{body_text(body)}\n"
