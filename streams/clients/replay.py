"""Replays chats into `chat.started` at a steady rate while a plain consumer reads `recommendations`."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer

from schemas import Recommendation, decode
from streams.clients.kafka import KafkaConnection
from streams.clients.publish import LabelledChat, publish_chats
from streams.settings import Settings

REPLAY_TIMEOUT_S = 60


@dataclass
class ReplayResult:
    sent: dict[str, LabelledChat]
    received: dict[str, Recommendation] = field(default_factory=dict)
    receipt_ms: list[float] = field(default_factory=list)
    # Per chat: receipt minus the recommendation's `created_at` (its publish, the broker and this fetch).
    delivery_ms: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    last_receipt_s: float = 0.0

    def accuracy(self, top: int) -> float:
        labelled = [(rec, self.sent[cid].intent) for cid, rec in self.received.items() if self.sent[cid].intent]
        hits = sum(intent in [item.content_id for item in rec.items[:top]] for rec, intent in labelled)
        return hits / len(labelled) if labelled else 0.0


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def replay(
    kafka: KafkaConnection,
    settings: Settings,
    chats: list[LabelledChat],
    rate: float | None,
    on_recommendation: Callable[[Recommendation], None] | None = None,
) -> ReplayResult:
    """Replay chats at `rate`/s (as fast as possible if None) while a plain consumer reads `recommendations`."""
    consumer = AIOKafkaConsumer(
        settings.topic_recommendations,
        **kafka.client_options(),
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=settings.fetch_wait_ms or 500,
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        for tp in consumer.assignment():  # pin the end offsets now, before any chat is produced
            await consumer.position(tp)
        started = time.monotonic()
        producing = asyncio.create_task(publish_chats(kafka, settings.topic_chat, chats, rate=rate, progress=False))
        result = ReplayResult(sent={})
        deadline = time.monotonic() + len(chats) / (rate or 1000) + REPLAY_TIMEOUT_S
        while time.monotonic() < deadline:
            if producing.done():
                result.sent = producing.result()
                if len(result.received) >= len(result.sent):
                    break
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                for message in messages:
                    rec = decode(Recommendation, message.value)
                    result.received[rec.chat_id] = rec
                    result.last_receipt_s = time.monotonic() - started
                    delivery = (datetime.now(UTC) - rec.created_at).total_seconds() * 1000
                    result.delivery_ms[rec.chat_id] = delivery
                    result.receipt_ms.append(delivery + rec.latency_ms)
                    if on_recommendation is not None:
                        on_recommendation(rec)
        result.sent = await producing
        result.seconds = time.monotonic() - started
        return result
    finally:
        await consumer.stop()
