"""Files out of a Debian package that ``fetch_debian`` keeps in the cache (no install, no root)."""

from __future__ import annotations

import io
import tarfile

from rnnkit.data.named.fetch import fetch_debian
from rnnkit.errors import RnnkitError


def deb_data(deb: bytes, name: str) -> bytes:
    """The data.tar.* member of a .deb (an ar archive), uncompressed to a tar stream's bytes."""
    if not deb.startswith(b"!<arch>\n"):
        raise RnnkitError(f"{name} is not a Debian package; delete it to refetch")
    pos = 8
    while pos + 60 <= len(deb):
        header = deb[pos : pos + 60]
        member, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        body = deb[pos + 60 : pos + 60 + size]
        if member.startswith("data.tar"):
            if member.endswith(".xz"):
                import lzma

                return lzma.decompress(body)
            if member.endswith(".zst"):
                raise RnnkitError(f"{name}: zstd-packed data is not supported")
            return body  # tarfile opens .gz/.bz2/plain itself
        pos += 60 + size + (size & 1)
    raise RnnkitError(f"{name} has no data.tar member; delete it to refetch")


def deb_files(package: str, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    """{suffix: bytes of the member whose path ends with it} from the package's .deb."""
    deb = fetch_debian(package)
    data = deb_data(deb.read_bytes(), deb.name)
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            for s in suffixes:
                if m.isfile() and m.name.endswith(s):
                    out[s] = tf.extractfile(m).read()
    missing = [s for s in suffixes if s not in out]
    if missing:
        raise RnnkitError(f"{deb.name} lacks {missing}; delete it to refetch")
    return out
