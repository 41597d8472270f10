"""Consumes `chat.started`: embeds each micro-batch's first turns in one call, publishes `recommendations`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import faust

from agents.dead_letters import DeadLetters
from agents.delivery import run_batches
from agents.isolation import run_isolated
from agents.ports import RECOMMENDED, AgentMetrics, RecommendationStore, Searcher, Sink
from index.batcher import Lane
from index.vector_index import Hit
from schemas import ChatStarted, Recommendation, RecommendedItem, encode


class ChatHandler:
    """One batch of `chat.started` events in, one `recommendations` event per valid chat out."""

    def __init__(
        self,
        *,
        topic: str,
        searcher: Searcher,
        recommendations: Sink,
        dead_letters: DeadLetters,
        store: RecommendationStore,
        metrics: AgentMetrics,
        model_id: str,
        top_k: int,
    ) -> None:
        self._topic = topic
        self._searcher = searcher
        self._recommendations = recommendations
        self._dead_letters = dead_letters
        self._store = store
        self._metrics = metrics
        self._model_id = model_id
        self._top_k = top_k

    async def __call__(self, batch: Sequence[faust.EventT]) -> None:
        decoded = await self._dead_letters.decode(ChatStarted, batch)
        searched = await run_isolated(
            decoded.events,
            decoded.records,
            self._search,
            healthy=self._searcher.healthy,
            dead_letters=self._dead_letters,
            what="embedding and search",
        )
        recommendations = [self._recommendation(chat, hits) for _, chat, hits in searched.done]
        outputs = [
            (event, rec.chat_id.encode(), encode(rec))
            for (event, _, _), rec in zip(searched.done, recommendations, strict=True)
        ]
        delivered = await self._dead_letters.publish_all(self._recommendations, outputs)
        await asyncio.gather(*decoded.dead_letters, *searched.dead_letters)
        recommendations = [rec for rec, ok in zip(recommendations, delivered, strict=True) if ok]
        if recommendations:
            await self._store.save(recommendations)
            self._metrics.handled(self._topic, RECOMMENDED, len(recommendations))
            for rec in recommendations:
                self._metrics.recommended(rec.latency_ms)

    async def _search(self, chats: list[ChatStarted]) -> list[list[Hit]]:
        return await self._searcher.query([c.text for c in chats], self._top_k, "saved_response", Lane.CHAT)

    def _recommendation(self, chat: ChatStarted, hits: list[Hit]) -> Recommendation:
        now = datetime.now(UTC)
        return Recommendation(
            chat_id=chat.chat_id,
            items=[
                RecommendedItem(content_id=h.content_id, kind="saved_response", title=h.title, score=round(h.score, 4))
                for h in hits
            ],
            model=self._model_id,
            created_at=now,
            latency_ms=round((now - chat.created_at).total_seconds() * 1000, 1),
        )


def register_chat_agent(
    app: faust.App, topic: faust.TopicT, handle: ChatHandler, *, max_batch: int, within_s: float, in_flight: int
) -> None:
    async def chat_started(stream: faust.StreamT) -> None:
        # Twice as many batches in flight as the encoder runs at once (`in_flight`): while those are encoded,
        # the others wait in the micro-batcher (which merges them into the next model call) or for Kafka and Redis.
        await run_batches(app, stream, handle, max_batch=max_batch, within_s=within_s, in_flight=in_flight)

    app.agent(topic, name="chat_started")(chat_started)
