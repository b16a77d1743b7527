"""Reading text corpora: the bundled Shakespeare plays or the user's own UTF-8 file.

Every way a file can be unusable (missing, a directory, empty, binary, not UTF-8) raises
``RnnkitError`` with a one-line message, so the command line never shows a traceback for it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rnnkit.errors import RnnkitError

DEFAULT_CORPUS = "shakespeare"


def default_corpus_path() -> Path:
    """Path of the bundled corpus (eight Shakespeare plays, ~1 MB; see data/corpora/README.md)."""
    return Path(str(resources.files("rnnkit.data") / "corpora" / "shakespeare.txt"))


def read_text(path: str | Path | None) -> str:
    """Return the text of ``path`` (or of the bundled corpus when ``path`` is None).

    Line endings are normalised to ``\\n``. A file holding NUL bytes is taken as binary.
    """
    p = default_corpus_path() if path is None else Path(path)
    if not p.exists():
        raise RnnkitError(f"data file not found: {p}")
    if not p.is_file():
        raise RnnkitError(f"data path is not a regular file: {p}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise RnnkitError(f"cannot read data file {p}: {exc.strerror}") from None
    if not raw.strip():
        raise RnnkitError(f"data file is empty: {p}")
    if b"\x00" in raw:
        raise RnnkitError(f"data file looks binary (it holds NUL bytes), expected UTF-8 text: {p}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RnnkitError(
            f"data file is not valid UTF-8 (byte {exc.start} is {raw[exc.start]:#04x}): {p}"
        ) from None
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
