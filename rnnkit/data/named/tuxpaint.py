"""``tuxpaint-es``: real recorded speech, the Spanish spoken descriptions of Tux Paint's stamps.

Debian's ``tuxpaint-stamps-default`` (GPL-2, 161 MB, fetched once with ``apt-get download``)
holds, per stamp, ``NAME.txt`` with the description in many languages (``es.utf8=...``) and
``NAME_desc_es.ogg``, one speaker reading it (890 clips, 25 minutes, 44.1 kHz stereo). Only those
two files per stamp are taken out of the package (``dpkg-deb --fsys-tarfile``, streamed) into
``<cache>/speech/tuxpaint-es/``, with ``transcript.tsv``. The split is by stamp name (a seeded
hash: 80% train, 10% val, 10% test), so a stamp's description is in one split only.

The transcript is the written description, which the reader sometimes says differently (numbers
and symbols such as "$0,01" are read out): the character error rate includes those mismatches.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.fetch import cache_dir, fetch_debian
from rnnkit.data.transcripts import Clip
from rnnkit.errors import RnnkitError

PACKAGE = "tuxpaint-stamps-default"
LANG = "es"
SUFFIX = f"_desc_{LANG}.ogg"


def split_of(stamp: str) -> str:
    """train / val / test for a stamp name, from a hash (stable across machines and runs)."""
    h = int(hashlib.sha256(stamp.encode()).hexdigest()[:8], 16) % 10
    return "test" if h == 0 else "val" if h == 1 else "train"


def description(txt: str) -> str | None:
    """The ``es.utf8=`` line of a stamp's .txt, or None."""
    for line in txt.splitlines():
        if line.startswith(f"{LANG}.utf8="):
            return line.split("=", 1)[1].strip() or None
    return None


def extract(deb: Path, dest: Path) -> None:
    """The Spanish clips and transcript.tsv from ``deb`` into ``dest`` (via a temporary
    folder renamed at the end)."""
    if shutil.which("dpkg-deb") is None:
        raise RnnkitError("unpacking the tuxpaint-es clips needs dpkg-deb (Debian's dpkg)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        work = Path(tmp)
        texts: dict[str, str] = {}
        clips: list[str] = []
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
                for m in tf:
                    if not m.isfile() or "/stamps/" not in m.name:
                        continue
                    stem = m.name.split("/stamps/", 1)[1]
                    if stem.endswith(".txt"):
                        texts[stem[:-4]] = tf.extractfile(m).read().decode("utf-8", "replace")
                    elif stem.endswith(SUFFIX):
                        target = work / "audio" / stem
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(tf.extractfile(m).read())
                        clips.append(stem)
        finally:
            proc.stdout.close()
            if proc.wait() != 0:
                raise RnnkitError(f"dpkg-deb could not read {deb.name}; delete it to refetch")
        rows = ["path\ttext\tspeaker\tstamp"]
        for stem in sorted(clips):
            stamp = stem[: -len(SUFFIX)]
            text = description(texts.get(stamp, ""))
            if text is not None:
                rows.append(f"audio/{stem}\t{text.replace(chr(9), ' ')}\ttuxpaint-{LANG}\t{stamp}")
        (work / "transcript.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        os.replace(work, dest)
        work.mkdir()  # TemporaryDirectory removes its folder on the way out


def load_tuxpaint_es() -> list[Clip]:
    from rnnkit.data.transcripts import read_transcript

    dest = cache_dir() / "speech" / f"tuxpaint-{LANG}"
    if not (dest / "transcript.tsv").is_file():
        extract(fetch_debian(PACKAGE), dest)
    clips, _ = read_transcript(dest / "transcript.tsv")
    stamps = [line.split("\t")[3] for line in (dest / "transcript.tsv").read_text().splitlines()]
    return [Clip(c.path, c.text, c.speaker, "", split_of(s))
            for c, s in zip(clips, stamps[1:], strict=True)]  # fmt: skip


register(
    NamedDataset(
        "tuxpaint-es",
        "speech",
        "890 Spanish spoken descriptions of Tux Paint stamps (25 minutes, one speaker), split "
        "by stamp",
        "Debian tuxpaint-stamps-default (apt-get download), *_desc_es.ogg + the stamp's .txt",
        "GPL-2.0",
        load_tuxpaint_es,
    )
)
