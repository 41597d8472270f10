"""Orders content work so that an edit or a delete never waits behind a bulk import.

Each batch the content agent takes is planned at once (`ContentHandler.plan`: the newest event of each item that
changes the table) and its work goes to the front of a queue, newest event first: an import is a burst of events,
and an edit or a delete sent behind it is newer than all of them. One background task applies the queue from the
front, a part of at most `part_texts` texts at a time (an item larger than that is a part alone), so an edit waits
on the model for the part already there and its own work, not for the import (the model's content lane is first
come, first served). An old item waits while newer work keeps coming: a steady flow of edits is far below what the
model embeds, and an import larger than the queue holds the stream (below) until it is through.

Per-item order holds: a newer version of a queued item replaces it (a delete withdraws it), and the handler checks
the table and the newest version planned just before it writes, so nothing is written over a newer version. An
event is acked once its work is written or found needless, so the committed offset never passes a queued event:
after a crash it is read again. The queue holds about `backlog_texts` texts at most: beyond that the agent takes no
more batches until a part is done (the stream, and so the fetches, wait). Work of a partition this worker no longer
owns is dropped unacked: its new owner reads it again from the committed offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence

import faust

from agents.content import ContentHandler, ContentWork
from agents.delivery import Take, with_retries
from schemas import ContentUpdated

logger = logging.getLogger(__name__)

Ack = Callable[[Sequence[faust.EventT]], Awaitable[None]]
Retry = Callable[[int, Callable[[], Awaitable[None]]], Awaitable[None]]
Owned = Callable[[faust.EventT], bool]
Crash = Callable[[BaseException], Awaitable[None]]


class ContentQueue:
    """Content work newest first, applied in parts of bounded model work by one background task."""

    def __init__(
        self,
        handler: ContentHandler,
        *,
        part_texts: int,
        backlog_texts: int,
        ack: Ack,
        retry: Retry,
        owned: Owned,
        crash: Crash,
    ) -> None:
        self._handler = handler
        self._part_texts = part_texts
        self._backlog_limit = backlog_texts
        self._ack = ack
        self._retry = retry
        self._owned = owned
        self._crash = crash
        self._closing = False
        self._backlog: dict[str, ContentWork] = {}  # by item, newest first
        self._applying: list[ContentWork] = []  # the part at the model
        self._newest: dict[str, int] = {}  # the newest version planned of each item: older work is not written
        self._changed = asyncio.Condition()
        self._drainer: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None

    @property
    def queued_texts(self) -> int:
        """Texts waiting in the queue or being embedded from it."""
        return sum(w.texts for w in self._backlog.values()) + sum(w.texts for w in self._applying)

    async def put(self, batch: Sequence[faust.EventT]) -> None:
        """Plans `batch` and queues its work ahead of the older; returns once the queue has room."""
        self._raise_if_failed()
        planned: list[ContentWork] = []

        async def plan() -> None:
            planned[:] = await self._handler.plan(batch)

        await self._retry(len(batch), plan)
        work_events = {id(w.event) for w in planned}
        settled = [event for event in batch if id(event) not in work_events]
        self._drop_unowned()
        work: list[ContentWork] = []
        for w in planned:
            self._newest[w.content_id] = max(w.update.version, self._newest.get(w.content_id, w.update.version))
            waiting = self._backlog.get(w.content_id)
            if waiting is not None and waiting.update.version > w.update.version:
                settled.append(w.event)  # a newer version of the item is already queued
                continue
            if waiting is not None:
                del self._backlog[w.content_id]
                settled.append(waiting.event)
            work.append(w)
        position = {id(event): i for i, event in enumerate(batch)}
        work.sort(key=lambda w: position[id(w.event)], reverse=True)
        await self._ack(settled)
        if work:
            self._backlog = {**{w.content_id: w for w in work}, **self._backlog}
            logger.info("content: %s items queued, %s texts in all", len(work), self.queued_texts)
            self._start_drainer()
        async with self._changed:
            await self._changed.wait_for(lambda: self.queued_texts <= self._backlog_limit or self._failed is not None)
        self._raise_if_failed()

    async def close(self) -> None:
        """Stops the backlog's task; its work stays unacked, to be read again."""
        self._closing = True
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer

    def _superseded(self, update: ContentUpdated) -> bool:
        return self._newest.get(update.content_id, update.version) > update.version

    def _drop_unowned(self) -> None:
        for content_id, w in list(self._backlog.items()):
            if not self._owned(w.event):
                del self._backlog[content_id]

    def _next_part(self) -> list[ContentWork]:
        part: list[ContentWork] = []
        texts = 0
        for content_id, w in list(self._backlog.items()):
            if part and texts + w.texts > self._part_texts:
                break
            del self._backlog[content_id]
            part.append(w)
            texts += w.texts
        return part

    def _start_drainer(self) -> None:
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self._backlog:
                self._drop_unowned()
                part = self._applying = self._next_part()
                if part:
                    await self._retry(len(part), functools.partial(self._handler.apply, part, self._superseded))
                    await self._ack([w.event for w in part])
                self._applying = []
                async with self._changed:
                    self._changed.notify_all()
        except asyncio.CancelledError as exc:
            if not self._closing:
                await self._fail(exc)
            raise
        except Exception as exc:
            await self._fail(exc)

    async def _fail(self, exc: BaseException) -> None:
        """The backlog's work cannot go on: the worker crashes (its events stay unacked, to be read again) and the
        agent raises on its next batch."""
        logger.critical("the content backlog stopped (%r): crashing the worker", exc)
        self._failed = exc
        await self._crash(exc)
        async with self._changed:
            self._changed.notify_all()

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            raise RuntimeError("the content backlog failed and crashed the worker") from self._failed


def register_content_agent(
    app: faust.App,
    topic: faust.TopicT,
    handler: ContentHandler,
    *,
    max_batch: int,
    take: Take,
    part_texts: int,
    backlog_texts: int,
) -> None:
    """The `content_updated` agent: one batch planned at a time (each plan reads the rows the previous work
    wrote), its work ordered by a `ContentQueue`. Faust flushes table writes before it commits acked offsets."""

    async def agent(stream: faust.StreamT) -> None:
        async def ack(events: Sequence[faust.EventT]) -> None:
            for event in events:
                await stream.ack(event)

        queue = ContentQueue(
            handler,
            part_texts=part_texts,
            backlog_texts=backlog_texts,
            ack=ack,
            retry=lambda size, work: with_retries(app, size, work),
            owned=lambda event: _owned(app, event),
            crash=app.crash,
        )
        try:
            async for batch in take(stream, max_batch):
                await queue.put(batch)
        finally:
            await queue.close()

    app.agent(topic, name="content_updated")(agent)


def _owned(app: faust.App, event: faust.EventT) -> bool:
    """Whether the event's partition is still this worker's, in the same generation it was handed out in."""
    message = event.message
    try:
        return message.generation_id == app.consumer_generation_id and message.tp in app.consumer.assignment()
    except Exception:
        return False
