"""``debian-synopsis``: Debian package descriptions, the long description paired with the
one-line synopsis that the package gives for it (about 61,000 distinct pairs).

``apt-get update`` with a private lists folder and ``Acquire::Languages=en`` fetches the
``Translation-en`` index (every description) and the ``Packages`` index (each binary
package's source package). apt keeps them lz4-compressed; apt's own ``apt-helper cat-file``
reads them. Pairs are deduplicated, and each keeps its source package as its group, so that a
package's ``-dev``/``-doc``/``-data`` siblings, whose descriptions are near-copies, never sit
on both sides of a split.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.fetch import _run_download, cache_dir
from rnnkit.errors import RnnkitError

APT_HELPER = Path("/usr/lib/apt/apt-helper")
SUITE = "_dists_bookworm_main_"  # the release's main index; security/updates add little


def lists_dir(languages: tuple[str, ...] = ("en",)) -> Path:
    """The private lists folder holding the ``Translation-*`` index of each of ``languages``,
    filled by one ``apt-get update`` the first time. Each set of languages has a folder of its
    own, so fetching another language never refreshes (and so changes) a dataset read before."""
    d = cache_dir() / "-".join(["debian-lists", *(lang for lang in languages if lang != "en")])
    if all(any(d.glob(f"*{SUITE}i18n_Translation-{lang}*")) for lang in languages):
        return d
    if shutil.which("apt-get") is None or not APT_HELPER.exists():
        raise RnnkitError("Debian's package descriptions need apt-get (rnnkit reads apt's indexes)")
    (d / "partial").mkdir(parents=True, exist_ok=True)
    (d / "cache").mkdir(exist_ok=True)
    _run_download(
        ["apt-get", "-o", f"Dir::State::Lists={d}", "-o", f"Dir::Cache={d / 'cache'}",
         "-o", f"Acquire::Languages={','.join(languages)}", "-o", "Debug::NoLocking=1", "update"],
        f"Debian's package descriptions in {', '.join(languages)} (apt-get update into a "
        "private folder)",
    )  # fmt: skip
    return d


def read_index(lists: Path, kind: str) -> str:
    found = sorted(lists.glob(f"*{SUITE}{kind}*"))
    if not found:
        raise RnnkitError(f"no {kind} index in {lists}; delete the folder to refetch")
    proc = subprocess.run([str(APT_HELPER), "cat-file", str(found[0])], capture_output=True)
    if proc.returncode != 0:
        raise RnnkitError(f"apt-helper could not read {found[0].name}; delete it to refetch")
    return proc.stdout.decode("utf-8", "replace")


def stanzas(text: str):
    """The ``Field: value`` paragraphs of a Debian index, continuation lines kept as lines."""
    for block in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key].append(line[1:])
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = [value.strip()]
        if fields:
            yield fields


def source_packages(packages: str) -> dict[str, str]:
    """{binary package: its source package} from a ``Packages`` index."""
    source_of = {}
    for f in stanzas(packages):
        if "Package" in f:
            source_of[f["Package"][0]] = (f.get("Source") or f["Package"])[0].split()[0]
    return source_of


def synopsis(description: list[str]) -> str:
    """The one-line synopsis: a description's first line."""
    return description[0].strip()


def long_description(description: list[str]) -> str:
    """The long description under the synopsis, its lines and paragraphs joined by spaces."""
    return " ".join(" ".join(x for x in description[1:] if x.strip() != ".").split())


def description_pairs(translations: str, packages: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Distinct (long description, synopsis) pairs and each one's source package."""
    source_of = source_packages(packages)
    pairs, groups, seen = [], [], set()
    for f in stanzas(translations):
        desc = f.get("Description-en")
        if not desc or "Package" not in f:
            continue
        pair = (long_description(desc), synopsis(desc))
        if not all(pair) or pair in seen:
            continue
        seen.add(pair)
        pairs.append(pair)
        package = f["Package"][0]
        groups.append(source_of.get(package, package))
    return pairs, groups


def load_synopses() -> tuple[list[tuple[str, str]], list[str]]:
    lists = lists_dir()
    return description_pairs(read_index(lists, "i18n_Translation-en"),
                             read_index(lists, "binary-amd64_Packages"))  # fmt: skip


register(
    NamedDataset(
        name="debian-synopsis",
        task="summarize",
        description="Debian package long descriptions -> their one-line synopses",
        source="Debian bookworm Translation-en and Packages indexes (apt-get update)",
        license="the packages' own free licences",
        load=load_synopses,
    )
)
