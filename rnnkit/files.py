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


def new_output(path: str | Path, force: bool, what: str = "output", suffix: str = "") -> Path:
    """``path`` checked as a file the user asked for: its folder exists (or is made), it is not
    a folder, it ends in ``suffix`` when one is asked, and it does not exist unless ``force``:
    a file the user had is never replaced unasked."""
    path = Path(path)
    if path.is_dir():
        raise RnnkitError(f"{what} {path} is a folder; give a file name")
    if suffix and path.suffix.lower() != suffix:
        raise RnnkitError(f"{what} {path} must end in {suffix}")
    if path.exists() and not force:
        raise RnnkitError(f"{what} {path} exists; pass --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnnkitError(f"cannot create the folder of {what} {path}: {exc.strerror}") from None
    return path


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())
