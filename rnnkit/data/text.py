"""Text from a user, decoded once at the edge, and text corpora (the bundled Shakespeare plays or
the user's own UTF-8 file).

The one rule for text from a user: bytes (a file, standard input) go through ``decode_text`` and
strings that came from bytes the system decoded for us (command-line arguments, which Python
hands over with undecodable bytes as lone surrogates) through ``user_text``. Both refuse what is
not UTF-8 text in one line naming the first bad byte, so nothing past the edge (tokenizers,
tables, models) ever sees undecodable text. Every way a file can be unusable (missing, a
directory, empty, binary, not UTF-8) raises ``RnnkitError`` with a one-line message, so the
command line never shows a traceback for it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rnnkit.errors import RnnkitError

DEFAULT_CORPUS = "shakespeare"


def decode_text(raw: bytes, where: str) -> str:
    """``raw`` as text: UTF-8 (a leading byte-order mark dropped); NUL bytes (a binary file) or
    bytes that are not UTF-8 are one RnnkitError naming ``where`` and the first bad byte."""
    if b"\x00" in raw:
        raise RnnkitError(f"{where} looks binary (it holds NUL bytes), expected UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RnnkitError(
            f"{where} is not valid UTF-8 (byte {exc.start} is {raw[exc.start]:#04x})"
        ) from None
    return text.removeprefix("\ufeff")


def user_text(text: str, where: str) -> str:
    """``text`` checked as text a user typed: a string holding lone surrogates (bytes that were
    not UTF-8, as Python passes them on in ``sys.argv`` and surrogate-escaped streams) is one
    RnnkitError naming ``where`` and the first bad byte; a NUL is refused too."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        byte = f" (byte {bad - 0xDC00:#04x})" if 0xDC80 <= bad <= 0xDCFF else ""
        raise RnnkitError(f"{where} is not valid UTF-8 text{byte}") from None
    if "\x00" in text:
        raise RnnkitError(f"{where} holds a NUL character, expected text")
    return text


def input_file(path: str | Path, what: str) -> Path:
    """``path`` checked as a file to read: a missing one is "no such {what}", and a device, pipe
    or folder where a file is wanted (``/dev/zero`` would be read for ever) is one line too."""
    p = Path(path)
    if not p.exists():
        raise RnnkitError(f"{p}: no such {what}")
    if not p.is_file():
        raise RnnkitError(f"{p}: not a regular file (a folder, device or pipe); give a {what}")
    return p


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
    text = decode_text(raw, f"data file {p}")
    return text.replace("\r\n", "\n").replace("\r", "\n")
