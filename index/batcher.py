"""Adaptive micro-batcher with priority lanes: coalesces `embed` calls into few encoder calls on the encoder threads.

- Adaptive: under load, requests queue while the encoder is busy and the next batch takes all of them (up to
  `max_batch` texts); when idle, a lone request is encoded at once. Up to `encoder.parallel` model calls
  run at the same time, each on its own thread of the executor: a batch is split across the threads that
  are idle when it starts (so a lone burst of `/search` requests uses every core), and under load each
  thread takes the next batch as soon as it is free. Only when the previous batch held more
  than one request (there is load) does the batcher linger up to `max_wait` for stragglers.
- Priority lanes: a batch is filled from the search lane first, then chats, then content re-embeds, so a
  burst of CMS edits cannot starve the help screen. Chats keep a share of the model under a flood of searches:
  while chats wait, searches fill at most half a batch, and with more than one encoder thread, model calls
  holding searches run on all threads but one, so that one stays for chats.
- Deferring: a batcher given `defer_to` (a shadow or backfill model's) starts a batch only while that other
  batcher (the active model's) is idle: a candidate's work waits for chats and searches, though a call it has
  already started shares the cores with the ones that come after it.
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
Clock = Callable[[], float]

# A batch is split across idle threads only in parts of at least this many texts: smaller model calls cost
# more per text, and at moderate load the extra work queued the chats behind them (p99 at 187 chats/s
# 150-200 ms without splitting, 400 ms when every batch of 2-5 chats was split).
MIN_SPLIT_TEXTS = 4
_DEFER_RECHECK_S = 0.05


class Lane(IntEnum):
    """Lower value, served first."""

    SEARCH = 0
    CHAT = 1
    CONTENT = 2


class BatcherClosed(RuntimeError):
    """The batcher stopped (its model was released) before this request was encoded."""


@dataclass(eq=False)
class _Request:
    lane: Lane
    texts: list[str]
    future: asyncio.Future[Vectors] = field(repr=False)
    served_by: tuple[float, float] | None = None  # (start, seconds) of the model call that served it, by `clock`


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
        defer_to: Callable[[], MicroBatcher | None] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.encoder = encoder
        self._clock = clock
        self._executor = executor
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._lanes: dict[Lane, deque[_Request]] = {lane: deque() for lane in Lane}
        self._room = {lane: asyncio.Semaphore(max_queued) for lane in Lane}
        self._queued = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._encoding: set[asyncio.Task[None]] = set()
        self._in_flight: set[_Request] = set()
        self._idle_threads = encoder.parallel
        self._thread_freed = asyncio.Event()
        self._others_queued = asyncio.Event()  # a chat or content request queued
        self._search_threads_max = max(1, encoder.parallel - 1)  # threads model calls holding searches may use
        self._search_threads = 0
        self._last_requests = 0
        self._defer_to = defer_to
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    def queued(self, lane: Lane) -> int:
        return len(self._lanes[lane])

    @property
    def idle(self) -> bool:
        """Nothing queued and no model call running."""
        return self._idle.is_set()

    def _note_activity(self) -> None:
        if any(self._lanes.values()) or self._idle_threads < self.encoder.parallel:
            self._idle.clear()
        else:
            self._idle.set()

    async def embed(
        self, texts: list[str], lane: Lane = Lane.CHAT, timing: list[tuple[float, float]] | None = None
    ) -> Vectors:
        """Vectors for `texts`, row for row; `timing` gets (start, seconds) of each model call that served them, by
        the batcher's `clock` (wall-clock seconds unless a test gives another), so a caller can tell its wait for
        the call from the call."""
        if not texts:
            return np.zeros((0, self.encoder.dimension), dtype=np.float32)
        if self._closed:
            raise BatcherClosed("the model was released")
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")
        # Long requests go in chunks, so one big re-embed cannot hold the encoder for seconds.
        loop = asyncio.get_running_loop()
        requests = []
        for start in range(0, len(texts), self._max_batch):
            await self._room[lane].acquire()
            if self._closed:  # woken by `close()`: wake the next caller waiting for room too
                self._room[lane].release()
                raise BatcherClosed("the model was released")
            request = _Request(lane, texts[start : start + self._max_batch], loop.create_future())
            self._lanes[lane].append(request)
            self._queued.set()
            if lane is not Lane.SEARCH:
                self._others_queued.set()
            self._idle.clear()
            requests.append(request)
        parts = await asyncio.gather(*(request.future for request in requests))
        if timing is not None:
            # Chunks served by the same call count once.
            timing.extend(sorted({r.served_by for r in requests if r.served_by is not None}))
        return parts[0] if len(parts) == 1 else np.vstack(parts)

    async def close(self) -> None:
        """Stop, and fail every request still queued or being encoded, so no caller waits forever (a model
        retired while a shadow score, a backfill or a content edit waits for it)."""
        self._closed = True
        in_flight = list(self._in_flight)
        tasks = [*self._encoding, *([self._runner] if self._runner is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for room in self._room.values():
            room.release()  # a caller waiting for room wakes, sees `_closed` and raises
        pending = [*in_flight, *(request for queue in self._lanes.values() for request in queue)]
        for request in pending:
            if not request.future.done():
                request.future.set_exception(BatcherClosed("the model was released"))
        for queue in self._lanes.values():
            queue.clear()
        self._in_flight.clear()

    async def _run(self) -> None:
        while True:
            while self._idle_threads == 0:
                self._thread_freed.clear()
                await self._thread_freed.wait()
            batch = await self._collect()
            if not batch:
                continue  # every request it took had been given up by its caller
            self._in_flight.update(batch)
            # Identical texts are encoded once, and sorting by length keeps padding (wasted work) low.
            unique = sorted({text for request in batch for text in request.texts}, key=len)
            searching = any(request.lane is Lane.SEARCH for request in batch)
            threads = self._idle_threads
            if searching:
                threads = min(threads, self._search_threads_max - self._search_threads)
            parts = split_by_length(unique, min(threads, len(unique) // MIN_SPLIT_TEXTS))
            self._idle_threads -= len(parts)
            self._search_threads += len(parts) if searching else 0
            task = asyncio.get_running_loop().create_task(self._encode(batch, unique, parts, searching))
            self._encoding.add(task)
            task.add_done_callback(self._encoding.discard)

    async def _yield(self) -> None:
        """Wait while the batcher this one defers to has work: re-checked often, as which one that is can change."""
        while self._defer_to is not None and (other := self._defer_to()) is not None and other is not self:
            if other.idle:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(other._idle.wait(), _DEFER_RECHECK_S)

    def _take(self, batch: list[_Request], size: int) -> int:
        """Move queued requests into `batch`, highest priority first, while it has room; returns its size."""
        searches = sum(len(r.texts) for r in batch if r.lane is Lane.SEARCH)
        search_room = self._max_batch // 2 if self._lanes[Lane.CHAT] else self._max_batch
        for lane, queue in self._lanes.items():
            if lane is Lane.SEARCH and not self._searchable:
                continue
            while queue and (size == 0 or size + len(queue[0].texts) <= self._max_batch):
                if lane is Lane.SEARCH and searches and searches + len(queue[0].texts) > search_room:
                    break
                request = queue.popleft()
                searches += len(request.texts) if lane is Lane.SEARCH else 0
                self._room[lane].release()
                if request.future.done():
                    continue  # its caller gave up (a content edit's wait for another model): not encoded
                batch.append(request)
                size += len(request.texts)
        if not any(self._lanes.values()):
            self._queued.clear()
        return size

    @property
    def _searchable(self) -> bool:
        return self._search_threads < self._search_threads_max

    async def _collect(self) -> list[_Request]:
        batch: list[_Request] = []
        while True:
            await self._queued.wait()
            await self._yield()  # once there is work: a request that comes later must wait as well
            size = self._take(batch, 0)
            if batch or self._searchable or not self._lanes[Lane.SEARCH]:
                break
            # Only searches wait, and their threads are all busy: until a thread frees or a chat comes.
            self._thread_freed.clear()
            self._others_queued.clear()
            await _first_of(self._thread_freed, self._others_queued)
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

    async def _encode(self, batch: list[_Request], unique: list[str], parts: list[list[str]], searching: bool) -> None:
        try:
            await self._encode_batch(batch, unique, parts, searching)
        finally:
            self._in_flight.difference_update(batch)

    async def _encode_batch(
        self, batch: list[_Request], unique: list[str], parts: list[list[str]], searching: bool
    ) -> None:
        started = self._clock()
        try:
            vectors = np.vstack(await asyncio.gather(*(self._encode_part(part, searching) for part in parts)))
        except Exception as exc:
            if len(batch) > 1:
                # One caller's text must not fail the others merged into the same call: each on its own.
                logger.warning("a model call of %s merged requests failed (%r): one call each", len(batch), exc)
                await self._encode_alone(batch)
                return
            logger.exception("encoding a batch of %s texts failed", len(unique))
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        row = {text: i for i, text in enumerate(unique)}
        served_by = (started, self._clock() - started)
        for request in batch:
            request.served_by = served_by
            if not request.future.done():
                request.future.set_result(vectors[[row[text] for text in request.texts]])

    async def _encode_alone(self, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        for request in batch:
            if request.future.done():
                continue
            started = self._clock()
            try:
                vectors = await loop.run_in_executor(self._executor, self.encoder.encode, request.texts)
                request.served_by = (started, self._clock() - started)
            except Exception as exc:
                if not request.future.done():
                    request.future.set_exception(exc)
            else:
                if not request.future.done():  # its caller may have given up while it was encoded
                    request.future.set_result(vectors)

    async def _encode_part(self, texts: list[str], searching: bool) -> Vectors:
        started = time.perf_counter()
        try:
            vectors: Vectors = await asyncio.get_running_loop().run_in_executor(
                self._executor, self.encoder.encode, texts
            )
        finally:
            self._idle_threads += 1
            self._search_threads -= 1 if searching else 0
            self._thread_freed.set()
            self._note_activity()
        if self._on_batch is not None:
            self._on_batch(len(texts), time.perf_counter() - started)
        return vectors


async def _first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def split_by_length(texts: list[str], parts: int) -> list[list[str]]:
    """At most `parts` runs of consecutive texts (already sorted by length) with about equal total length,
    so model calls that run side by side finish together."""
    parts = max(1, min(parts, len(texts)))
    total = sum(len(text) for text in texts)
    out: list[list[str]] = [[]]
    done = 0
    for i, text in enumerate(texts):
        remaining_texts, remaining_parts = len(texts) - i, parts - len(out)
        if out[-1] and remaining_parts and (done >= total * len(out) / parts or remaining_texts <= remaining_parts):
            out.append([])
        out[-1].append(text)
        done += len(text)
    return out
