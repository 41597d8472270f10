"""Sends a malformed event to the dead-letter topic with the reason, its origin and its original bytes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import faust

from schemas import DeadLetter, encode
from streams.metrics import Metrics

logger = logging.getLogger(__name__)


async def send_dead_letter(topic: faust.TopicT, metrics: Metrics, event: faust.EventT, reason: str) -> Awaitable[Any]:
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
    metrics.dead_letters.labels(message.topic).inc()
    return await topic.send(
        key=message.key, value=encode(letter), headers={"helpstream-reason": reason.encode()[:1000]}
    )
