"""``shakespeare-dialogue``: adjacent speeches of two different speakers in the bundled plays,
as (line, reply) pairs grouped by scene.

In the bundled text a speech is the speaker's name on a line of its own ending in a full stop
("Ham.", "First Clown.", "OTHELLO.") after a blank line, then its lines up to a blank line (so a
speech line such as "Again." is not a name); ``Scene`` / ``ACT``
headings start a new scene. Stage directions in brackets are dropped.
"""

from __future__ import annotations

import re

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.text import read_text

_SPEAKER = re.compile(r"^([A-Z][A-Za-z' ]{0,30})\.$")
_SCENE = re.compile(r"^(ACT|Act|SCENE|Scene)\b")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_CAST_LIST = re.compile(r"^(PERSONS REPRESENTED|DRAMATIS PERSON)", re.I)
NOT_SPEAKERS = {"SCENE", "ACT", "EPILOGUE", "PROLOGUE", "THE END", "FINIS"}


def speeches(text: str) -> list[tuple[int, str, str]]:
    """(scene number, speaker, speech) in order of the text."""
    out: list[tuple[int, str, str]] = []
    scene, in_scene, speaker, lines = 0, False, None, []

    def close() -> None:
        speech = " ".join(_BRACKETS.sub(" ", " ".join(lines)).split())
        if in_scene and speaker and speech:
            out.append((scene, speaker, speech))

    for line in text.splitlines():
        stripped = line.strip()
        if _CAST_LIST.match(stripped):
            close()
            in_scene, speaker, lines = False, None, []
            continue
        if _SCENE.match(stripped) and not _SPEAKER.match(stripped):
            in_scene = True
            close()
            scene, speaker, lines = scene + 1, None, []
            continue
        name = _SPEAKER.match(stripped) if speaker is None else None  # names open a block
        if name and name.group(1).upper() not in NOT_SPEAKERS:
            speaker, lines = name.group(1).lower(), []
        elif not stripped:
            close()
            speaker, lines = None, []
        elif speaker:
            lines.append(stripped)
    close()
    return out


def dialogue_pairs(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(speech, the next speech) where the next is another speaker's in the same scene, and
    each pair's scene as its group."""
    said = speeches(text)
    pairs, groups = [], []
    for (s1, who1, line), (s2, who2, reply) in zip(said, said[1:], strict=False):
        if s1 == s2 and who1 != who2:
            pairs.append((line, reply))
            groups.append(f"scene {s1}")
    return pairs, groups


def load_dialogue() -> tuple[list[tuple[str, str]], list[str]]:
    return dialogue_pairs(read_text(None))


register(
    NamedDataset(
        name="shakespeare-dialogue",
        task="chat",
        description="a speech and the next speaker's reply, from the bundled plays",
        source="the bundled corpus (eight plays, Open Shakespeare / Project Gutenberg)",
        license="public domain",
        load=load_dialogue,
    )
)
