"""Dynamic batching: the requests that reach one run while its model is busy, or within a few
milliseconds of each other, are answered by one call to the model (one forward pass over the
batch for the tasks whose ``predict`` batches), so throughput grows with the load.

Only requests with the same decoding options are joined, and never sampled ones (a draw from
a seeded generator depends on what else is in the batch; a sampled request is answered alone,
as ``rnnkit predict`` would answer it). A batch holds at most ``max_batch`` inputs and its first
request waits at most ``max_wait`` seconds for company. When a joined call fails on one
request's input, each request of the batch is answered alone, so the error reaches only the
request that caused it. With batching off every request is one call, one at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rnnkit.errors import RnnkitError

# (inputs, decoding options) -> one row per input
PredictFn = Callable[[list[Any], dict[str, Any]], list[dict[str, Any]]]


class QueueFull(RnnkitError):
    """More requests wait for the run than ``max_queue``."""


@dataclass
class Pending:
    inputs: list[Any]
    options: dict[str, Any]
    future: asyncio.Future
    key: tuple = field(init=False)
    sampled: bool = field(init=False)  # a sampled request joins nothing

    def __post_init__(self) -> None:
        self.sampled = (self.options.get("temperature") or 0) > 0
        self.key = tuple(sorted(self.options.items()))


class Batcher:
    """Answers ``submit(inputs, options)`` for one run through ``predict``, which runs on one
    thread of its own (a model and its task are used by one thread at a time)."""

    def __init__(
        self,
        predict: PredictFn,
        enabled: bool = True,
        max_batch: int = 32,
        max_wait: float = 0.005,
        max_queue: int = 1024,
    ):
        self.predict, self.enabled = predict, enabled
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnkit-model")
        self.waiting: deque[Pending] = deque()  # in order of arrival
        self.waiting_inputs = 0  # the inputs they hold
        # the batch being gathered sleeps until the waiting requests hold ``wake_at`` inputs
        # (enough to fill it), or its time is up: not woken by every request that arrives
        self.wake_at = 1
        self.arrived: asyncio.Future | None = None
        self.worker: asyncio.Task | None = None
        self.calls = 0  # calls to the model so far, and the inputs they held
        self.batched_inputs = 0
        self.model_seconds = 0.0  # wall and CPU time inside ``predict``, on the model's thread
        self.model_cpu_seconds = 0.0

    def submit(self, inputs: list[Any], options: dict[str, Any]) -> asyncio.Future:
        """Queue a request; the future (await it) holds its rows or its error. A request whose
        future is cancelled (timed out) before its batch starts is dropped from it."""
        loop = asyncio.get_running_loop()
        if self.worker is None:  # started in the server's event loop, on first use
            self.worker = loop.create_task(self.loop())
        if len(self.waiting) >= self.max_queue:
            raise QueueFull(f"the server is busy: {self.max_queue} requests wait for this run")
        item = Pending(inputs, options, loop.create_future())
        self.waiting.append(item)
        self.waiting_inputs += len(inputs)
        if self.waiting_inputs >= self.wake_at and self.arrived and not self.arrived.done():
            self.arrived.set_result(None)
        return item.future

    async def sleep(self, until: float | None) -> None:
        """Until enough inputs wait (``wake_at``) or the loop's clock reaches ``until``."""
        loop = asyncio.get_running_loop()
        self.arrived = loop.create_future()
        timer = None if until is None else loop.call_at(until, self.arrived.set_result, None)
        try:
            await self.arrived
        finally:
            if timer is not None:
                timer.cancel()
            self.arrived = None

    def take(self, batch: list[Pending], size: int) -> int:
        """Move the waiting requests that match ``batch[0]`` and fit into ``batch``; its size
        after."""
        first, rest = batch[0], deque()
        for item in self.waiting:
            if item.key == first.key and size + len(item.inputs) <= self.max_batch:
                batch.append(item)
                size += len(item.inputs)
            else:
                rest.append(item)
        self.waiting = rest
        self.waiting_inputs = sum(len(item.inputs) for item in rest)
        return size

    async def gather(self) -> list[Pending]:
        """The next batch: its first request (the longest waiting), then those that match it,
        from those waiting and those that arrive within ``max_wait``, until the batch is
        full."""
        while not self.waiting:
            self.wake_at = 1
            await self.sleep(None)
        first = self.waiting.popleft()
        self.waiting_inputs -= len(first.inputs)
        batch = [first]
        if not self.enabled or first.sampled:
            return batch
        size = self.take(batch, len(first.inputs))
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while size < self.max_batch and asyncio.get_running_loop().time() < deadline:
            self.wake_at = self.waiting_inputs + self.max_batch - size
            await self.sleep(deadline)
            size = self.take(batch, size)
        return batch

    async def loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [p for p in await self.gather() if not p.future.done()]  # done: timed out
            if not batch:
                continue
            answers = await loop.run_in_executor(self.executor, self.answer, batch)
            for item, answer in zip(batch, answers, strict=True):
                if item.future.done():
                    continue
                if isinstance(answer, BaseException):
                    item.future.set_exception(answer)
                else:
                    item.future.set_result(answer)

    def answer(self, batch: list[Pending]) -> list[list[dict[str, Any]] | BaseException]:
        """Per request of ``batch``: its rows, or the exception its inputs raised (on the
        model's thread)."""
        if len(batch) > 1:
            inputs = [x for item in batch for x in item.inputs]
            try:
                rows = self.call(inputs, batch[0].options)
            except Exception:  # answered one by one below, each with its own error
                pass
            else:
                out, at = [], 0
                for item in batch:
                    out.append(rows[at : at + len(item.inputs)])
                    at += len(item.inputs)
                return out
        answers: list[list[dict[str, Any]] | BaseException] = []
        for item in batch:
            try:
                answers.append(self.call(item.inputs, item.options))
            except Exception as exc:
                answers.append(exc)
        return answers

    def call(self, inputs: list[Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls += 1
        self.batched_inputs += len(inputs)
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return self.predict(inputs, options)
        finally:
            self.model_seconds += time.perf_counter() - wall
            self.model_cpu_seconds += time.thread_time() - cpu

    def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
