"""Writing files so that a reader never sees half of one and nothing the user had is lost."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rnnkit.errors import RnnkitError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and ``os.replace``: a reader sees
    the old file or the new one, never half of one. A failure (no space, no permission, a
    directory in the way) leaves the old file and no temporary behind, and is a RnnkitError."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RnnkitError(f"cannot write {path}: {exc.strerror or exc}") from None


def replace_marked_block(path: str | Path, markers: tuple[str, str], text: str) -> None:
    """Put ``text`` between the two ``markers`` of the document ``path`` in place of what was
    there (a bench keeps its table in the docs up to date this way), atomically. A document
    without both markers, in order, is a RnnkitError."""
    path = Path(path)
    doc = path.read_text()
    start, end = doc.find(markers[0]), doc.find(markers[1])
    if start < 0 or end < start:
        raise RnnkitError(f"{path} has no {markers[0]} ... {markers[1]} block to replace")
    doc = doc[: start + len(markers[0])] + "\n" + text + "\n" + doc[end:]
    atomic_write_bytes(path, doc.encode("utf-8"))


def new_output(
    path: str | Path, force: bool, what: str = "output", suffix: str | tuple[str, ...] = ""
) -> Path:
    """``path`` checked as a file the user asked a command to write, the one rule for every
    such file: it is not a folder, it ends in ``suffix`` (or one of them) when asked, it is
    neither an existing file nor a symlink unless ``force`` (a file the user had is never
    replaced unasked, and a link is never silently swapped for a file), and its folder exists
    (or is made). The write itself goes through ``atomic_write_bytes``."""
    path = Path(path)
    suffixes = (suffix,) if isinstance(suffix, str) else tuple(suffix)
    try:
        path.is_symlink()  # a name the system refuses (too long) raises here, not as an answer
    except OSError as exc:
        raise RnnkitError(f"{what} {str(path)[:80]}...: {exc.strerror}") from None
    if path.is_dir() and not path.is_symlink():
        raise RnnkitError(f"{what} {path} is a folder; give a file name")
    if any(suffixes) and path.suffix.lower() not in suffixes:
        raise RnnkitError(f"{what} {path} must end in {' or '.join(suffixes)}")
    if path.is_symlink() and not force:
        raise RnnkitError(f"{what} {path} is a symbolic link; pass --force to replace it")
    if path.exists() and not force:
        raise RnnkitError(f"{what} {path} exists; pass --force to replace it")
    if path.is_dir():
        raise RnnkitError(f"{what} {path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnnkitError(f"cannot create the folder of {what} {path}: {exc.strerror}") from None
    return path


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())
