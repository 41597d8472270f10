"""Batches of a stream's events: Faust's `noack_take`, except that a batch goes out at once while the model is idle.

`noack_take(max, within)` waits the whole `within` window before it looks at its buffer, even when the events are
there and the model has nothing to do: a lone chat sat up to `within` (5 ms by default) in the worker doing
nothing, and each agent woke every `within` while idle. Here, once the events already fetched have reached the
buffer, the batch goes out at once if `hold()` is false (the model is idle: a chat gets to it without a wait); if
it is true (the model is busy, so the chat would wait for it anyway), the batch waits up to `within` for more
events, as before. Handing every chat out alone cost more CPU per chat (one batch's decoding, publish and Redis
write each) and, with the machine near busy at a quarter of capacity, more queueing than the window saved.
Events are never acked here (the caller acks each one after its batch is delivered), exactly as with
`noack_take`: the buffering, flow control and cleanup are Faust's.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any

import faust
from mode.utils.futures import notify

logger = logging.getLogger(__name__)

# Messages the stream handed to a batch, for as long as something else holds them (Faust's plain `Message` takes
# no attributes, its `ConsumerMessage` does: a weak set serves both).
_taken: weakref.WeakSet[Any] = weakref.WeakSet()


def mark_taken(message: Any) -> None:
    _taken.add(message)


def was_taken(message: Any) -> bool:
    """Whether the stream handed this consumer message to an agent's batch (the consumer's watchdog asks)."""
    return message in _taken


def ready_batches(
    stream: faust.StreamT, max_: int, within_s: float, hold: Callable[[], bool]
) -> AsyncGenerator[list[faust.EventT], None]:
    """Lists of at most `max_` events: at once while `hold()` is false, else after up to `within_s` for more."""
    batches = _ready_batches(stream, max_, within_s, hold)
    # As Faust's own buffering generators: the stream closes it when it stops (`Stream.on_stop`).
    stream._active_agens.add(batches)  # type: ignore[attr-defined]
    return batches


async def _ready_batches(
    stream: Any, max_: int, within_s: float, hold: Callable[[], bool]
) -> AsyncGenerator[list[faust.EventT], None]:
    buffer: list[faust.EventT] = []
    filled = asyncio.Event()
    full = asyncio.Event()
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
            mark_taken(event.message)
            buffer.append(event)
            filled.set()
            if len(buffer) >= max_:
                full.set()
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
            if buffer and not full.is_set() and within_s > 0 and hold():
                await stream.wait_for_stopped(full, timeout=within_s)
            if not buffer:
                continue
            consuming = asyncio.get_running_loop().create_future()
            try:
                yield list(buffer)
            finally:
                buffer.clear()
                filled.clear()
                full.clear()
                notify(consuming)
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
