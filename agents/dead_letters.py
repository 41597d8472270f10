"""Decode-or-dead-letter, the one path both agents take: a malformed event goes to the dead-letter topic with
the reason, its origin and its original bytes, and the rest of its batch carries on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import faust
from pydantic import BaseModel

from agents.ports import DEAD_LETTERED, AgentMetrics, Sink
from schemas import DeadLetter, InvalidEvent, decode, encode

logger = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)

REASON_HEADER = "helpstream-reason"
_MAX_REASON_HEADER_BYTES = 1000


@dataclass
class Decoded(Generic[Model]):
    """A batch split into its valid records and the delivery futures of its dead letters."""

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
                decoded.records.append(decode(model, event.message.value))
            except InvalidEvent as exc:
                decoded.dead_letters.append(await self.send(event, str(exc)))
        return decoded

    async def send(self, event: faust.EventT, reason: str) -> Awaitable[Any]:
        """Queue the dead letter; returns the delivery future to await before acking the event."""
        message = event.message
        letter = DeadLetter(
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=reason,
            key_b64=message.key if isinstance(message.key, bytes) else None,
            value_b64=message.value if isinstance(message.value, bytes) else None,
            received_at=datetime.now(UTC),
        )
        logger.warning("dead-lettering %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
        self._metrics.handled(message.topic, DEAD_LETTERED)
        return await self._sink.send(
            key=message.key,
            value=encode(letter),
            headers={REASON_HEADER: reason.encode()[:_MAX_REASON_HEADER_BYTES]},
        )
