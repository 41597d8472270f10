"""Consumes `chat.started`: embeds each micro-batch's first turns in one call, publishes `recommendations`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any

import faust

from agents.delivery import run_batches
from index.batcher import Lane
from index.vector_index import Hit
from schemas import ChatStarted, InvalidEvent, Recommendation, RecommendedItem, decode, encode
from streams import recommendation_store
from streams.app import app, metrics, runtime, settings, topics
from streams.dead_letters import send_dead_letter

logger = logging.getLogger(__name__)


async def recommend(batch: Sequence[faust.EventT]) -> None:
    metrics.events_in.labels(settings.topic_chat).inc(len(batch))
    deliveries: list[Awaitable[Any]] = []
    chats: list[ChatStarted] = []
    for event in batch:
        try:
            chats.append(decode(ChatStarted, event.message.value))
        except InvalidEvent as exc:
            deliveries.append(await send_dead_letter(topics.dead_letter, metrics, event, str(exc)))
    if chats:
        results = await runtime.query([chat.text for chat in chats], settings.top_k, "saved_response", Lane.CHAT)
        recommendations = [_recommendation(chat, hits) for chat, hits in zip(chats, results, strict=True)]
        for rec in recommendations:
            deliveries.append(await topics.recommendations.send(key=rec.chat_id.encode(), value=encode(rec)))
        await asyncio.gather(*deliveries)
        await recommendation_store.save(await runtime.kv(), recommendations, settings.recommendation_ttl_s)
        metrics.events_out.labels(settings.topic_recommendations).inc(len(recommendations))
        for rec in recommendations:
            metrics.recommendation_latency_ms.observe(rec.latency_ms)
    else:
        await asyncio.gather(*deliveries)


def _recommendation(chat: ChatStarted, hits: list[Hit]) -> Recommendation:
    now = datetime.now(UTC)
    return Recommendation(
        chat_id=chat.chat_id,
        items=[
            RecommendedItem(content_id=h.content_id, kind="saved_response", title=h.title, score=round(h.score, 4))
            for h in hits
        ],
        model=runtime.index.model_id,
        created_at=now,
        latency_ms=round((now - chat.created_at).total_seconds() * 1000, 1),
    )


@app.agent(topics.chat)
async def chat_started(stream: faust.StreamT) -> None:
    # Twice as many batches in flight as the encoder runs at once: while those are encoded, the others wait
    # in the micro-batcher (which merges them into the next model call) or for Kafka and Redis.
    await run_batches(
        app,
        stream,
        recommend,
        max_batch=settings.batch_max,
        within_s=settings.batch_wait_ms / 1000,
        in_flight=2 * runtime.encoder.parallel,
    )
