"""Dynamic batching: requests that arrive close together share one model call.

A request waits at most ``max_delay`` for others to join it, and a batch holds at most ``max_size``
requests. The model runs in worker threads, so the event loop keeps answering ``/ping`` and
refusing overload while a batch computes. The queue is bounded: past ``max_queue`` waiting
requests, ``submit`` refuses at once instead of letting memory and latency grow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


class QueueFull(Exception):
    """Too many requests are waiting; answer 503."""


@dataclass
class _Item:
    data: Any
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0


class Batcher:
    def __init__(self, run_batch: Callable[[list[Any]], list[Any]], *, max_size: int, max_delay_s: float,
                 max_queue: int, workers: int) -> None:
        self._run_batch = run_batch
        self._max_size = max_size
        self._max_delay = max_delay_s
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queue)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="predict")
        self._tasks: list[asyncio.Task[None]] = []
        self._workers = workers
        self.stats = BatchStats()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, data: Any) -> asyncio.Future[Any]:
        """Queue one request's decoded data; the future resolves to ``(prediction, batch_size)``."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Item(data, future))
        except asyncio.QueueFull:
            raise QueueFull(f"{self._queue.maxsize} requests are already waiting") from None
        return future

    async def _collect(self) -> list[_Item]:
        first = await self._queue.get()
        batch = [first]
        deadline = first.enqueued + self._max_delay
        while len(batch) < self._max_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                # Take whatever is already waiting, without waiting longer.
                while len(batch) < self._max_size and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        # Requests that timed out while queued are not computed.
        return [item for item in batch if not item.future.done()]

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, [i.data for i in batch])
            except Exception as exc:  # one failing batch fails its requests, never the server
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            self.stats.batches += 1
            self.stats.items += len(batch)
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result((result, len(batch)))
