"""Speech data on disk: audio files listed with their transcripts, and the text they are scored on.

A transcript file is a table (``.tsv``, ``.csv`` or ``.jsonl``) with a ``path`` column (audio
file, relative to the table's folder or absolute) and a ``text`` column; an optional
``speaker`` column makes the split keep each speaker's clips together, and an optional
``condition`` column (e.g. the SNR) and ``kind`` column (e.g. digits or command) get their own
error rates. A folder may be given instead of
the table when it holds exactly one of ``TRANSCRIPT_NAMES``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.audio import AUDIO_SUFFIXES
from rnnkit.errors import RnnkitError

TRANSCRIPT_NAMES = ("transcript.tsv", "transcript.csv", "transcript.jsonl", "metadata.csv",
                    "transcripts.tsv", "transcripts.csv", "transcripts.jsonl")  # fmt: skip
PATH_COLUMNS = ("path", "file", "audio", "filename", "wav")
TEXT_COLUMNS = ("text", "transcript", "transcription", "sentence")


@dataclass(frozen=True)
class Clip:
    """One utterance: where its audio is and what is said.

    ``noise`` = (kind, snr_db, seed) mixes generated noise into the audio after reading (see
    ``rnnkit.data.audio.make_noise``); ``split`` fixes the clip's split when the dataset
    decides it (held-out voices), else it is empty."""

    path: str
    text: str
    speaker: str = ""
    condition: str = ""
    split: str = ""
    noise: tuple[str, float, int] | None = None
    kind: str = ""  # what sort of utterance (digits, command...): error rates are given per kind


def normalise_text(text: str, keep_case: bool = False) -> str:
    """The text a transcript is trained and scored on: Unicode NFC, lowercased (unless
    ``keep_case``), every character that is not a letter, digit or apostrophe made a space
    (punctuation is not heard), runs of spaces collapsed."""
    text = unicodedata.normalize("NFC", text)
    if not keep_case:
        text = text.lower()
    text = text.replace("\u2019", "'")
    text = re.sub(r"[^\w']|_", " ", text)
    return " ".join(text.split())


def find_transcript(path: str | Path) -> Path:
    """``path`` if it is a file, else the one transcript file inside the folder ``path``."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise RnnkitError(f"{path}: no such transcript file or folder")
    found = [path / n for n in TRANSCRIPT_NAMES if (path / n).is_file()]
    if len(found) != 1:
        names = ", ".join(TRANSCRIPT_NAMES[:3])
        raise RnnkitError(f"{path}: put exactly one transcript file ({names}) in the folder")
    return found[0]


def read_transcript(
    path: str | Path, path_col: str | None = None, text_col: str | None = None
) -> tuple[list[Clip], int]:
    """The clips a transcript file lists, and how many rows were skipped (an empty path or
    text). Audio paths are resolved against the file's folder; a missing audio file is an
    error that names it."""
    from rnnkit.data.tables import _pick, cell_text, read_table

    table = find_transcript(path)
    columns, rows, lines = read_table(table)
    if not rows:
        raise RnnkitError(f"{table} has no rows")
    pcol = _pick(columns, path_col, PATH_COLUMNS, "path")
    tcol = _pick(columns, text_col, TEXT_COLUMNS, "text")
    lower = {c.lower(): c for c in columns}
    clips, skipped = [], 0
    for row, n in zip(rows, lines, strict=True):
        where = f"{table}:{n}"
        audio = cell_text(row.get(pcol), where, pcol).strip()
        text = cell_text(row.get(tcol), where, tcol).strip()
        if not audio or not normalise_text(text):
            skipped += 1
            continue
        full = Path(audio) if Path(audio).is_absolute() else table.parent / audio
        if not full.is_file():
            raise RnnkitError(f"{table}: the audio file {audio!r} is not there ({full})")
        clips.append(Clip(
            str(full), text,
            speaker=cell_text(row.get(lower.get("speaker", "")), where, "speaker", True),
            condition=cell_text(row.get(lower.get("condition", "")), where, "condition", True),
            kind=cell_text(row.get(lower.get("kind", "")), where, "kind", True),
        ))  # fmt: skip
    if not clips:
        raise RnnkitError(f"{table}: every row has an empty {pcol!r} or {tcol!r}")
    return clips, skipped


def list_audio(folder: str | Path) -> list[Path]:
    """The audio files directly inside ``folder`` (by suffix), sorted by name."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise RnnkitError(f"{folder}: holds no audio file ({', '.join(AUDIO_SUFFIXES[:3])}...)")
    return files
