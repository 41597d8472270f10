"""Orders content work so that an edit or a delete never waits behind a bulk import.

Each batch the content agent takes is planned at once (`ContentHandler.plan`). Its deletes, and its upserts
smallest first up to `part_texts` texts, are applied before the next batch is taken; the rest joins a backlog
that a background task applies in arrival order, at most `part_texts` texts per part (an item larger than that
is a part alone). So an edit taken while a bulk import is being embedded waits on the model for one part of the
import at most, not for all of it: the model's content lane is first come, first served.

Per-item order holds: a newer version of an item waiting in the backlog replaces it there, and the handler checks
the table again just before it writes, so a part that finishes after a newer version was written leaves it be.
An event is acked once its work is written or found needless, so the committed offset never passes an event
still in the backlog: after a crash it is read again. The backlog holds about `backlog_texts` texts at most:
beyond that the agent takes no more batches until a part is done (the stream, and so the fetches, wait). Work of a
partition this worker no longer owns is dropped unacked: its new owner reads it again from the committed offset.
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


class ContentQueue:
    """A batch's light work now, the rest in a backlog applied in parts of bounded model work."""

    def __init__(
        self,
        handler: ContentHandler,
        *,
        part_texts: int,
        backlog_texts: int,
        ack: Ack,
        retry: Retry,
        owned: Owned,
    ) -> None:
        self._handler = handler
        self._part_texts = part_texts
        self._backlog_limit = backlog_texts
        self._ack = ack
        self._retry = retry
        self._owned = owned
        self._backlog: dict[str, ContentWork] = {}  # by item, in arrival order
        self._newest: dict[str, int] = {}  # the newest version planned of each item: older work is not written
        self._queued_texts = 0  # the backlog's and the part being applied
        self._changed = asyncio.Condition()
        self._drainer: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None

    @property
    def queued_texts(self) -> int:
        """Texts waiting in the backlog or being embedded from it."""
        return self._queued_texts

    async def put(self, batch: Sequence[faust.EventT]) -> None:
        """Plans `batch`, applies its light work and queues the rest; returns once the backlog has room."""
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
                self._queued_texts -= waiting.texts
                settled.append(waiting.event)
            work.append(w)
        now, later = self._split(work)
        if now:
            await self._retry(len(now), lambda: self._handler.apply(now, self._superseded))
        await self._ack([*settled, *(w.event for w in now)])
        if later:
            for w in later:
                self._backlog[w.content_id] = w
                self._queued_texts += w.texts
            logger.info("content: %s items (%s texts) queued behind the light work", len(later), self._queued_texts)
            self._start_drainer()
            async with self._changed:
                self._changed.notify_all()
        async with self._changed:
            await self._changed.wait_for(lambda: self._queued_texts <= self._backlog_limit or self._failed is not None)
        self._raise_if_failed()

    async def close(self) -> None:
        """Stops the backlog's task; its work stays unacked, to be read again."""
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer

    def _superseded(self, update: ContentUpdated) -> bool:
        return self._newest.get(update.content_id, update.version) > update.version

    def _split(self, work: list[ContentWork]) -> tuple[list[ContentWork], list[ContentWork]]:
        """Deletes and the smallest upserts up to one part of model work now, the rest later."""
        now = [w for w in work if not w.texts]
        upserts = sorted((w for w in work if w.texts), key=lambda w: w.texts)
        texts = 0
        for i, w in enumerate(upserts):
            if texts + w.texts > self._part_texts:
                return now, upserts[i:]
            now.append(w)
            texts += w.texts
        return now, []

    def _drop_unowned(self) -> None:
        for content_id, w in list(self._backlog.items()):
            if not self._owned(w.event):
                del self._backlog[content_id]
                self._queued_texts -= w.texts

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
                part = self._next_part()
                if part:
                    await self._retry(len(part), functools.partial(self._handler.apply, part, self._superseded))
                    await self._ack([w.event for w in part])
                    self._queued_texts -= sum(w.texts for w in part)
                async with self._changed:
                    self._changed.notify_all()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # `with_retries` has crashed the app; the agent raises it on its next batch.
            self._failed = exc
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
