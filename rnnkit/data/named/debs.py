"""Files out of a Debian package that ``fetch_debian`` keeps in the cache (no install, no root)."""

from __future__ import annotations

import io
import tarfile

from rnnkit.data.named.bible import _deb_data
from rnnkit.data.named.fetch import fetch_debian
from rnnkit.errors import RnnkitError


def deb_files(package: str, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    """{suffix: bytes of the member whose path ends with it} from the package's .deb."""
    deb = fetch_debian(package)
    data = _deb_data(deb.read_bytes(), deb.name)
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
