"""Decode-or-dead-letter, the one path both agents take: a malformed event goes to the dead-letter topic with
the reason, its origin and its original bytes (customers' personal data masked), and the rest of its batch carries
on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import faust
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from pydantic import BaseModel

from agents.ports import DEAD_LETTERED, AgentMetrics, Sink
from schemas import DeadLetter, InvalidEvent, decode, encode

logger = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)

REASON_HEADER = "helpstream-reason"
# Errors that belong to one output message (the broker or client refuses that message), not to the system.
MESSAGE_ERRORS = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTimestampError,
)
_MAX_REASON_HEADER_BYTES = 1000


@dataclass
class Decoded(Generic[Model]):
    """A batch split into its valid records (with their events) and the delivery futures of its dead letters."""

    events: list[faust.EventT] = field(default_factory=list)
    records: list[Model] = field(default_factory=list)
    dead_letters: list[Awaitable[Any]] = field(default_factory=list)


class DeadLetters:
    def __init__(self, sink: Sink, metrics: AgentMetrics) -> None:
        self._sink = sink
        self._metrics = metrics

    async def decode(self, model: type[Model], batch: Sequence[faust.EventT]) -> Decoded[Model]:
        decoded: Decoded[Model] = Decoded()
        for event in batch:
            try:
                record = decode(model, event.message.value)
            except InvalidEvent as exc:
                decoded.dead_letters.append(await self.send(event, str(exc)))
            else:
                decoded.events.append(event)
                decoded.records.append(record)
        return decoded

    async def send(self, event: faust.EventT, reason: str) -> Awaitable[Any]:
        """Queue the dead letter; returns the delivery future to await before acking the event."""
        message = event.message
        # On a thread: masking what the letter keeps of a large event takes a while.
        letter = await asyncio.to_thread(
            DeadLetter.of,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=reason,
            key=message.key if isinstance(message.key, bytes) else None,
            value=message.value if isinstance(message.value, bytes) else None,
            received_at=datetime.now(UTC),
        )
        logger.warning("dead-lettering %s[%s]@%s: %s", message.topic, message.partition, message.offset, letter.reason)
        self._metrics.handled(message.topic, DEAD_LETTERED)
        return await self._sink.send(
            key=letter.key_b64,
            value=encode(letter),
            headers={REASON_HEADER: letter.reason.encode()[:_MAX_REASON_HEADER_BYTES]},
        )

    async def publish_all(self, sink: Sink, outputs: Sequence[tuple[faust.EventT, bytes, bytes]]) -> list[bool]:
        """Send each event's (key, value) output and wait for all of them; an output the broker or client refuses
        dead-letters its event instead. Returns, per output, True once delivered, False once dead-lettered.
        Any other failure is the system's and is raised."""
        sent: list[Awaitable[Any] | BaseException] = []
        for _, key, value in outputs:
            try:
                sent.append(await sink.send(key=key, value=value))
            except Exception as exc:
                if _refusal(exc) is None:
                    raise
                sent.append(exc)
        pending = [delivery for delivery in sent if not isinstance(delivery, BaseException)]
        settled = iter(await asyncio.gather(*pending, return_exceptions=True))
        outcomes = [delivery if isinstance(delivery, BaseException) else next(settled) for delivery in sent]
        delivered: list[bool] = []
        for (event, _, _), outcome in zip(outputs, outcomes, strict=True):
            if not isinstance(outcome, BaseException):
                delivered.append(True)
                continue
            if (refusal := _refusal(outcome)) is None:
                raise outcome
            await (await self.send(event, f"its output could not be produced: {refusal!r}"))
            delivered.append(False)
        return delivered


def _refusal(exc: BaseException) -> BaseException | None:
    """The refusal of one message, if that is what `exc` is (Faust wraps the client's errors in its own)."""
    for error in (exc, exc.__cause__):
        if error is not None and isinstance(error, MESSAGE_ERRORS):
            refusal: BaseException = error
            return refusal
    return None
