"""A tune as a MIDI file (written with mido) and as a piano-roll PNG (matplotlib).

Both play the tune's tokens once through as written (repeats are not unrolled), one eighth
note = 240 ticks at 480 ticks per quarter and a quarter = 120 beats per minute.
"""

from __future__ import annotations

import io
from pathlib import Path

from rnnkit.data.abc import header_of
from rnnkit.files import atomic_write_bytes
from rnnkit.scoring.tunes import perform

TICKS_PER_QUARTER = 480
TICKS_PER_EIGHTH = TICKS_PER_QUARTER // 2
VELOCITY = 80
FIDDLE = 40  # General MIDI program 41, violin (0-based)
TEMPO_BPM = 120.0  # quarters a minute: an eighth lasts 0.25 s


def midi_bytes(tokens: list[str], tempo_bpm: float = TEMPO_BPM) -> bytes:
    """A type-0 MIDI file of the tune's notes (rests are silence)."""
    import mido

    meter = header_of(tokens)[0]
    num, den = (int(x) for x in meter.split("/"))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0))
    track.append(mido.Message("program_change", program=FIDDLE, time=0))
    events = []  # (tick, 0 = off first | 1 = on, pitch)
    for p in perform(tokens)[0]:
        if p.pitch is None:
            continue
        start = round(p.onset * TICKS_PER_EIGHTH)
        events += [(start, 1, p.pitch), (start + round(p.length * TICKS_PER_EIGHTH), 0, p.pitch)]
    now = 0
    for tick, on, pitch in sorted(events):
        kind = "note_on" if on else "note_off"
        track.append(
            mido.Message(kind, note=pitch, velocity=VELOCITY if on else 0, time=tick - now)
        )
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    song = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_QUARTER)
    song.tracks.append(track)
    buf = io.BytesIO()
    song.save(file=buf)
    return buf.getvalue()


def write_midi(tokens: list[str], path: str | Path) -> None:
    atomic_write_bytes(path, midi_bytes(tokens))
