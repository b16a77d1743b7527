"""The test phase after training, bounded and visible: every decoding and baseline of a task's
test runs over the same items, chunk by chunk, each with its own progress bar.

The items are taken in a fixed random order (seed 0) in chunks of ``chunk``; on each chunk
every pass (a decoding, a baseline) runs in turn, so that all of them have scored the same
items whenever the phase stops. It stops after ``limit`` items (0: none), or when its time
budget (``seconds`` from ``started``; None: no limit) is spent: under a budget the first chunk
has ``FIRST_CHUNK`` items and each next one as many as the time left allows at the pace so far,
and the phase stops when not even ``MIN_CHUNK`` more would fit, so it overruns its budget by
about one small chunk of every pass at most (more only when the pace slows down). At least one
chunk is always scored.

The scores are corpus scores over the scored items in their own order, so a phase that scores
everything gives the figures of the whole split. ``rnnkit evaluate`` (a task's ``score``) runs
through the same chunks as a test without a time budget, and so decodes exactly what such a
test decoded (a budget's smaller chunks batch the items otherwise: sampled decodings draw
otherwise, the others may differ in the last bits).

Validation during training goes through the same order (``validate``): every validation
decodes the same items (all, or the first ``limit`` of the fixed order: the same random sample
each time, so the checkpoints compare), in one batch without a budget. Under a budget (a
command with ``--max-time``) a validation stops where the budget ends; its figures then cover
fewer items, and it says so (``Scored.partial``), so that it is not compared with the others.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from tqdm import tqdm

CHUNK = 64  # items per chunk: one decoding batch; the budget is checked between chunks
# under a time budget the first chunk is small, and each next one as large as the time left
# allows at the pace so far (at least MIN_CHUNK items), so the budget is overrun by little
FIRST_CHUNK = 8
MIN_CHUNK = 4
CHOICE_SHARE = 0.5  # of the budget, what a choice on the validation split before the test may use


@dataclass
class Scored:
    """What a run of passes scored: the items' indices in the split (ascending), each pass's
    outputs in that order, the split's size, and what cut it short ("time", "limit" or None)."""

    indices: list[int]
    outputs: dict[str, list[Any]]
    total: int
    limited_by: str | None = None

    def pick(self, items: list[Any]) -> list[Any]:
        """The scored ones of ``items`` (the split the passes ran over), in their order."""
        return [items[i] for i in self.indices]

    @property
    def partial(self) -> bool:
        """Stopped by the time budget: fewer items than a validation without one decodes."""
        return self.limited_by == "time"

    def info(self) -> dict[str, Any]:
        """How many items were scored, for results.json."""
        return {"scored": len(self.indices), "of": self.total, "limited_by": self.limited_by}


@dataclass
class TestPhase:
    """How a task's test may run (see the module docstring). The default, which ``score`` and
    a task tested outside the driver get: every item, no bars."""

    __test__: ClassVar[bool] = False  # not a test class, whatever pytest makes of its name
    progress: bool = False
    seconds: float | None = None
    limit: int = 0
    chunk: int = CHUNK
    seed: int = 0
    started: float = field(default_factory=time.monotonic)

    def deadline(self, share: float = 1.0) -> float | None:
        """The monotonic time by which ``share`` of the budget is spent (None: no budget)."""
        return None if self.seconds is None else self.started + share * self.seconds

    def run(
        self,
        items: list[Any],
        passes: dict[str, Callable[[list[Any]], list[Any]]],
        what: str,
        unit: str = "items",
        share: float = 1.0,
    ) -> Scored:
        """Run every pass (``name: items -> one output per item``) over the same chunks of
        ``items`` until the limit or ``share`` of the time budget; one bar per pass, headed
        ``what: name``."""
        n = len(items)
        order = random.Random(self.seed).sample(range(n), n)
        wanted = min(n, self.limit) if self.limit else n
        deadline = self.deadline(share)
        bars = {
            name: tqdm(total=wanted, desc=f"{what}: {name}", unit=unit, position=k,
                       disable=not self.progress, dynamic_ncols=True, mininterval=0.5)
            for k, name in enumerate(passes)
        }  # fmt: skip
        done: list[int] = []
        outputs: dict[str, dict[int, Any]] = {name: {} for name in passes}
        limited_by = None
        size = self.chunk if deadline is None else min(FIRST_CHUNK, self.chunk)
        spent = 0.0
        try:
            while len(done) < wanted:
                if done and deadline is not None:
                    left = deadline - time.monotonic()
                    per_item = spent / len(done)  # every pass, one item
                    if left < per_item * MIN_CHUNK:
                        limited_by = "time"
                        break
                    size = int(min(self.chunk, max(MIN_CHUNK, left / per_item)))
                chunk = order[len(done) : min(len(done) + size, wanted)]
                t0 = time.monotonic()
                for name, fn in passes.items():
                    out = fn([items[i] for i in chunk])
                    outputs[name].update(zip(chunk, out, strict=True))
                    bars[name].update(len(chunk))
                spent += time.monotonic() - t0
                done += chunk
        finally:
            for bar in bars.values():
                bar.close()
        if limited_by is None and len(done) < n:
            limited_by = "limit"
        indices = sorted(done)
        return Scored(indices, {name: [o[i] for i in indices] for name, o in outputs.items()},
                      n, limited_by)  # fmt: skip

    def validate(
        self, items: list[Any], decode: Callable[[list[Any]], list[Any]], unit: str = "items"
    ) -> Scored:
        """One validation's decoding of ``items`` (the validation split): the same sample at
        every validation (``limit`` items, or all), all in one batch unless there is a time
        budget, which stops it like the test phase (``Scored.partial``). No bar of its own:
        ``decode`` shows one per batch where the run shows bars."""
        whole = replace(self, progress=False, chunk=max(1, len(items)))
        return whole.run(items, {"validation": decode}, "validation", unit)


def scored_note(info: dict[str, Any] | None, count: str) -> list[str]:
    """The console line saying how many test items were scored, when not all were."""
    if not info or info.get("limited_by") is None:
        return []
    why = {"time": "the test phase's time budget (--test-time)", "limit": "--test-limit"}
    return [f"scored {info['scored']} of {info['of']} test {count} (a random sample; stopped by "
            f"{why.get(info['limited_by'], info['limited_by'])})"]  # fmt: skip


def partial_figure(scored: Scored) -> dict[str, float]:
    """What a validation cut short by the time budget adds to its figures: ``partial`` 1 and
    the items it decoded (the Trainer then does not let it pick the best checkpoint)."""
    return {"partial": 1.0, "decoded": float(len(scored.indices))} if scored.partial else {}
