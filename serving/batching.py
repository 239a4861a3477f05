"""Dynamic batching: requests that arrive together share one model call, and a lone request never waits.

Worker threads (one per model replica) serve one shared queue. The moment a worker is free it takes
every request already waiting, up to ``max_size``: what arrived while the previous batch ran forms the
next one, so batch forming overlaps computing. It waits for more only while the batch is smaller than
the concurrency the server has just seen (its previous batch plus what queued meanwhile), and at most
``max_delay`` after it could have started the batch. A lone client is therefore answered at once, while a steady crowd
fills its batches; when a crowd thins out, one batch waits its ``max_delay`` and the next ones no longer
wait.

The whole request (decode, predict, encode) runs in the worker, so a request crosses threads twice
(queued, answered) and a batch is handed back to the event loop in one call. The event loop only does
HTTP: it keeps answering ``/ping`` and refusing overload while a batch computes. The queue is bounded:
past ``max_queue`` waiting requests, ``submit`` refuses at once instead of letting memory and latency
grow.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Process = Callable[[list[Any]], list[Any]]
"""Runs one batch: one result per item, in order. A result that is an exception fails only its item;
an exception raised fails the whole batch."""


class QueueFull(Exception):
    """Too many requests are waiting; answer 503."""


@dataclass
class _Item:
    data: Any
    future: asyncio.Future[Any]


class Batcher:
    def __init__(self, process: Process, *, max_size: int, max_delay_s: float, max_queue: int,
                 workers: int, prepare_thread: Callable[[], None] = lambda: None) -> None:
        self._process = process
        self._prepare_thread = prepare_thread
        self._max_size = max_size
        self._max_delay = max_delay_s
        self._max_queue = max_queue
        self._queue: collections.deque[_Item] = collections.deque()
        self._arrived = threading.Condition(threading.Lock())
        self._collecting = threading.Lock()  # one worker gathers a batch at a time, so none steals another's company
        self._last_size = 1
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"predict-{n}", daemon=True) for n in range(workers)]
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for thread in self._threads:
            thread.start()

    async def stop(self) -> None:
        """Stop taking batches; a batch already computing finishes, but nobody waits for it."""
        with self._arrived:
            self._stopping = True
            self._arrived.notify_all()

    def submit(self, data: Any) -> asyncio.Future[Any]:
        """Queue one request; the future resolves to ``(result, batch_size)``. Cancel it to drop the
        request if it has not started computing."""
        assert self._loop is not None, "start() the batcher first"
        future: asyncio.Future[Any] = self._loop.create_future()
        with self._arrived:
            if len(self._queue) >= self._max_queue:
                raise QueueFull(f"{self._max_queue} requests are already waiting")
            self._queue.append(_Item(data, future))
            self._arrived.notify()
        return future

    def _take(self, batch: list[_Item]) -> None:
        """Move waiting requests into ``batch`` up to the cap, dropping those whose caller gave up."""
        while self._queue and len(batch) < self._max_size:
            item = self._queue.popleft()
            if not item.future.done():
                batch.append(item)

    def _collect(self) -> list[_Item]:
        batch: list[_Item] = []
        with self._arrived:
            # The concurrency just seen: the clients of the previous batch, who come back if they keep
            # sending, and the requests that arrived while it ran.
            target = min(self._max_size, self._last_size + len(self._queue))
            while not batch:
                while not self._queue and not self._stopping:
                    self._arrived.wait()
                if self._stopping:
                    return []
                self._take(batch)
            deadline = time.perf_counter() + self._max_delay
            while len(batch) < target and not self._stopping:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
                self._take(batch)
        return batch

    def _work(self) -> None:
        self._prepare_thread()
        while True:
            with self._collecting:
                batch = self._collect()
                if not batch:
                    return
                self._last_size = len(batch)
            try:
                results: list[Any] = self._process([item.data for item in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
            except Exception as exc:  # one failing batch fails its requests, never the server
                results = [exc] * len(batch)
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._deliver, batch, results)
            except RuntimeError:  # the event loop has closed: the server is gone
                return

    def _deliver(self, batch: list[_Item], results: list[Any]) -> None:
        for item, result in zip(batch, results, strict=True):
            if item.future.done():  # timed out or cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result((result, len(batch)))
