"""Micro-batcher: coalesces concurrent `embed` calls into one encoder call on the inference thread.

Under load, requests queue while the encoder is busy and the next batch takes all of them (up to
`max_batch` texts); when idle, a lone request is encoded at once. Only when the previous batch held more
than one request (there is load) does the batcher linger up to `max_wait` for stragglers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from index.encoder import Encoder, Vectors

logger = logging.getLogger(__name__)

BatchObserver = Callable[[int, float], None]


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
        on_batch: BatchObserver | None = None,
    ) -> None:
        self.encoder = encoder
        self._executor = executor
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._last_requests = 0

    async def embed(self, texts: list[str]) -> Vectors:
        """Vectors for `texts`, row for row."""
        if not texts:
            return np.zeros((0, self.encoder.dimension), dtype=np.float32)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")
        # Long requests go in chunks, so one big re-embed cannot hold the encoder for seconds.
        loop = asyncio.get_running_loop()
        requests = [
            _Request(texts[i : i + self._max_batch], loop.create_future())
            for i in range(0, len(texts), self._max_batch)
        ]
        for request in requests:
            await self._queue.put(request)
        parts = await asyncio.gather(*(request.future for request in requests))
        return parts[0] if len(parts) == 1 else np.vstack(parts)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            await self._encode(batch)

    async def _collect(self) -> list[_Request]:
        batch = [await self._queue.get()]
        size = len(batch[0].texts)
        while size < self._max_batch and not self._queue.empty():
            request = self._queue.get_nowait()
            batch.append(request)
            size += len(request.texts)
        if self._last_requests > 1 and size < self._max_batch:
            deadline = time.monotonic() + self._max_wait_s
            while size < self._max_batch and (remaining := deadline - time.monotonic()) > 0:
                try:
                    request = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
                batch.append(request)
                size += len(request.texts)
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
