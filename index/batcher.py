"""Adaptive micro-batcher with priority lanes: coalesces `embed` calls into few encoder calls on the encoder threads.

- Adaptive: under load, requests queue while the encoder is busy and the next batch takes all of them (up to
  `max_batch` texts); when idle, a lone request is encoded at once. Up to `encoder.parallel` batches are
  encoded at the same time, each on its own thread of the executor. Only when the previous batch held more
  than one request (there is load) does the batcher linger up to `max_wait` for stragglers.
- Priority lanes: a batch is filled from the search lane first, then chats, then content re-embeds, so a
  burst of CMS edits cannot starve the help screen.
- Bounded: each lane holds at most `max_queued` chunks; a caller beyond that waits (backpressure: an agent
  awaiting `embed` stops pulling events from Kafka), so memory stays bounded under overload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from index.encoder import Encoder, Vectors

logger = logging.getLogger(__name__)

BatchObserver = Callable[[int, float], None]


class Lane(IntEnum):
    """Lower value, served first."""

    SEARCH = 0
    CHAT = 1
    CONTENT = 2


@dataclass
class _Request:
    texts: list[str]
    future: asyncio.Future[Vectors] = field(repr=False)


class MicroBatcher:
    def __init__(
        self,
        encoder: Encoder,
        executor: Executor,
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.005,
        max_queued: int = 64,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self.encoder = encoder
        self._executor = executor
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._lanes: dict[Lane, deque[_Request]] = {lane: deque() for lane in Lane}
        self._room = {lane: asyncio.Semaphore(max_queued) for lane in Lane}
        self._queued = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._encoding: set[asyncio.Task[None]] = set()
        self._last_requests = 0

    def queued(self, lane: Lane) -> int:
        return len(self._lanes[lane])

    async def embed(self, texts: list[str], lane: Lane = Lane.CHAT) -> Vectors:
        """Vectors for `texts`, row for row."""
        if not texts:
            return np.zeros((0, self.encoder.dimension), dtype=np.float32)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")
        # Long requests go in chunks, so one big re-embed cannot hold the encoder for seconds.
        loop = asyncio.get_running_loop()
        requests = []
        for start in range(0, len(texts), self._max_batch):
            await self._room[lane].acquire()
            request = _Request(texts[start : start + self._max_batch], loop.create_future())
            self._lanes[lane].append(request)
            self._queued.set()
            requests.append(request)
        parts = await asyncio.gather(*(request.future for request in requests))
        return parts[0] if len(parts) == 1 else np.vstack(parts)

    async def close(self) -> None:
        tasks = [*self._encoding, *([self._runner] if self._runner is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        idle_threads = asyncio.Semaphore(self.encoder.parallel)
        while True:
            await idle_threads.acquire()
            batch = await self._collect()
            task = asyncio.get_running_loop().create_task(self._encode(batch))
            self._encoding.add(task)
            task.add_done_callback(self._encoding.discard)
            task.add_done_callback(lambda _: idle_threads.release())

    def _take(self, batch: list[_Request], size: int) -> int:
        """Move queued requests into `batch`, highest priority first, while it has room; returns its size."""
        for lane, queue in self._lanes.items():
            while queue and (size == 0 or size + len(queue[0].texts) <= self._max_batch):
                request = queue.popleft()
                self._room[lane].release()
                batch.append(request)
                size += len(request.texts)
        if not any(self._lanes.values()):
            self._queued.clear()
        return size

    async def _collect(self) -> list[_Request]:
        batch: list[_Request] = []
        await self._queued.wait()
        size = self._take(batch, 0)
        if self._last_requests > 1 and size < self._max_batch:
            deadline = time.monotonic() + self._max_wait_s
            while size < self._max_batch and (remaining := deadline - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queued.wait(), remaining)
                before = size
                size = self._take(batch, size)
                if size == before and self._queued.is_set():
                    break  # the next queued chunk does not fit: this batch is full enough
        self._last_requests = len(batch)
        return batch

    async def _encode(self, batch: list[_Request]) -> None:
        # Identical texts are encoded once, and sorting by length keeps padding (wasted work) low.
        unique = sorted({text for request in batch for text in request.texts}, key=len)
        started = time.perf_counter()
        try:
            vectors = await asyncio.get_running_loop().run_in_executor(self._executor, self.encoder.encode, unique)
        except Exception as exc:
            logger.exception("encoding a batch of %s texts failed", len(unique))
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(unique), time.perf_counter() - started)
        row = {text: i for i, text in enumerate(unique)}
        for request in batch:
            if not request.future.done():
                request.future.set_result(vectors[[row[text] for text in request.texts]])
