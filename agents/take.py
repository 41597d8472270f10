"""Batches of a stream's events, handed out as soon as there are any: Faust's `noack_take`, without its window.

`noack_take(max, within)` waits the whole `within` window before it looks at its buffer, even when the events are
there and the caller is waiting: a lone chat sat up to `within` (5 ms by default) in the worker doing nothing,
and each agent woke every `within` while idle. Here the caller gets what is buffered as soon as the events already
fetched have reached the buffer: a lone chat at once, and under load many, since the caller comes back only when
it has a free slot (`agents.delivery`) and the events fetched meanwhile are all taken. Events are never acked
here (the caller acks each one after its batch is delivered), exactly as with `noack_take`: the buffering, flow
control and cleanup are Faust's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

import faust
from mode.utils.futures import notify

logger = logging.getLogger(__name__)


def ready_batches(stream: faust.StreamT, max_: int) -> AsyncGenerator[list[faust.EventT], None]:
    """Lists of at most `max_` events, as soon as there are any."""
    batches = _ready_batches(stream, max_)
    # As Faust's own buffering generators: the stream closes it when it stops (`Stream.on_stop`).
    stream._active_agens.add(batches)  # type: ignore[attr-defined]
    return batches


async def _ready_batches(stream: Any, max_: int) -> AsyncGenerator[list[faust.EventT], None]:
    buffer: list[faust.EventT] = []
    filled = asyncio.Event()
    consumed = asyncio.Event()
    consuming: asyncio.Future[None] | None = None

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:  # a batch is out: hold the stream until the caller takes the next one
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take buffer found current_event is None")
            buffer.append(event)
            filled.set()
            if len(buffer) >= max_:
                consumed.clear()  # never more than `max_` in a batch
                await stream.wait(consumed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("error adding to the take buffer: %r", exc)
            await stream.crash(exc)
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            if not filled.is_set():  # (mode's wait costs three tasks: not when a batch is already there)
                await stream.wait_for_stopped(filled)
            # Events already fetched join the batch: the stream adds them one turn of the loop at a time, so
            # wait turns until a turn adds none (or the batch is full). A lone chat costs one turn.
            while 0 < (before := len(buffer)) < max_:
                await asyncio.sleep(0)
                if len(buffer) == before:
                    break
            if not buffer:
                continue
            consuming = asyncio.get_running_loop().create_future()
            try:
                yield list(buffer)
            finally:
                buffer.clear()
                filled.clear()
                notify(consuming)
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
