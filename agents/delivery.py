"""At-least-once micro-batches: ack a batch's events only after its outputs are delivered.

`ready_batches` hands out events that are never acked on their own; a batch that fails is retried with
backoff, and if it keeps failing the worker crashes, so the unacked batch is redelivered on restart.
It is never skipped (Faust's `take` would ack it anyway: MEASURED.md).

Up to `in_flight` batches are handled at once, and a new batch is taken as soon as any of them is done
(waiting for the oldest instead made batches alternate between 1 and 30 events at moderate load: the small
one finished, sat done, and its slot stayed unused while the big one was encoded). Acks may therefore arrive
out of order; Faust commits only up to the first unacked offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import faust

from agents.take import ready_batches

logger = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[faust.EventT]], Awaitable[None]]

RETRIES = 4
FIRST_BACKOFF_S = 0.5

Take = Callable[[faust.StreamT, int], AsyncIterator[Sequence[faust.EventT]]]


def windowed(within_s: float, hold: Callable[[], bool]) -> Take:
    """`ready_batches` with this window, held while `hold()` (the model is busy)."""
    return lambda stream, max_: ready_batches(stream, max_, within_s, hold)


async def run_batches(
    app: faust.App,
    stream: faust.StreamT,
    handle: BatchHandler,
    *,
    max_batch: int,
    take: Take,
    in_flight: int = 1,
) -> None:
    free = asyncio.Semaphore(in_flight)
    running: set[asyncio.Task[None]] = set()
    failed: list[BaseException] = []

    def done(task: asyncio.Task[None]) -> None:
        running.discard(task)
        free.release()
        if not task.cancelled() and (exc := task.exception()) is not None:
            failed.append(exc)

    try:
        async for batch in take(stream, max_batch):
            await free.acquire()  # holds the stream (and so the Kafka fetches) while every slot is busy
            if failed:
                raise failed[0]  # a batch kept failing and has crashed the app: take no more
            task = asyncio.ensure_future(_deliver(app, stream, batch, handle))
            running.add(task)
            task.add_done_callback(done)
        await asyncio.gather(*running)
    finally:
        for task in running:
            task.cancel()


async def _deliver(app: faust.App, stream: faust.StreamT, batch: Sequence[faust.EventT], handle: BatchHandler) -> None:
    await with_retries(app, len(batch), lambda: handle(batch))
    for event in batch:
        await stream.ack(event)


async def with_retries(app: faust.App, size: int, handle: Callable[[], Awaitable[None]]) -> None:
    """`handle()` (the work of `size` events), retried with backoff; when it keeps failing the app crashes, so its
    unacked events are redelivered on restart."""
    backoff = FIRST_BACKOFF_S
    for attempt in range(1, RETRIES + 2):
        try:
            await handle()
            return
        except Exception as exc:
            if attempt > RETRIES:
                logger.critical("batch of %s failed %s times; crashing so it is redelivered", size, attempt)
                await app.crash(exc)
                raise
            logger.exception("batch of %s failed (attempt %s); retrying in %.1f s", size, attempt, backoff)
            await asyncio.sleep(backoff)
            backoff *= 2


def register_batch_agent(
    app: faust.App,
    topic: faust.TopicT,
    name: str,
    handle: BatchHandler,
    *,
    max_batch: int,
    take: Take,
    in_flight: int = 1,
) -> None:
    """An agent named `name` that runs `handle` on the topic's micro-batches with `run_batches`."""

    async def agent(stream: faust.StreamT) -> None:
        await run_batches(app, stream, handle, max_batch=max_batch, take=take, in_flight=in_flight)

    app.agent(topic, name=name)(agent)
