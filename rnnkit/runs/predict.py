"""Predicting with a loaded run from raw inputs, one code path for every front end: the command
line's ``rnnkit predict`` and the HTTP server's ``POST /v1/runs/NAME/predict`` both check the
decoding options here and parse each input with the task's ``parse_input`` before handing the
parsed inputs to ``LoadedRun.predict``, so both give the same rows for the same inputs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from rnnkit.errors import RnnkitError
from rnnkit.tasks.base import DECODING, Task

# each decoding option a task may take: (type, lowest, highest, lowest excluded)
DECODING_RANGES: dict[str, tuple[type, float, float, bool]] = {
    "beam": (int, 1, 256, False),
    "temperature": (float, 0, 10, False),
    "top_p": (float, 0, 1, True),
    "seed": (int, 0, 2**63 - 1, False),
}
assert set(DECODING_RANGES) == set(DECODING)


def range_text(lo: float, hi: float, lo_open: bool) -> str:
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"


def check_decoding(
    task: Task, options: dict[str, Any], spell: Callable[[str], str] = str
) -> dict[str, Any]:
    """``options`` without the unset (None) ones, each checked: one the run's task does not
    take, of the wrong type or out of its range is refused with a one-line RnnkitError that
    names it as ``spell`` writes it (``--top-p`` on the command line)."""
    given = {k: v for k, v in options.items() if v is not None}
    for name, value in given.items():
        if name not in task.decoding:
            takes = ", ".join(map(spell, task.decoding))
            takes = f"its decoding options: {takes}" if takes else "it has no decoding options"
            raise RnnkitError(f"a {task.name} run takes no {spell(name)} ({takes})")
        kind, lo, hi, lo_open = DECODING_RANGES[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RnnkitError(f"{spell(name)} must be a number, got {value!r}")
        if kind is int and not isinstance(value, int):
            raise RnnkitError(f"{spell(name)} must be a whole number, got {value!r}")
        bad = not math.isfinite(value) or value < lo or (lo_open and value == lo) or value > hi
        if bad:
            raise RnnkitError(
                f"{spell(name)} {value} is out of range {range_text(lo, hi, lo_open)}"
            )
        given[name] = kind(value)
    return given


def parse_inputs(task: Task, texts: Iterable[str]) -> list[Any]:
    """Each raw input (a line of text, a file path for tasks that read files) as the task's
    ``predict`` takes it; a bad one is refused with the task's one-line RnnkitError."""
    return [task.parse_input(text) for text in texts]
