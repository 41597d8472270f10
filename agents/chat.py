"""Consumes `chat.started`: embeds each micro-batch's first turns in one call, publishes `recommendations`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import faust

from agents.dead_letters import DeadLetters
from agents.delivery import Take, register_batch_agent
from agents.isolation import run_isolated
from agents.masking import Masker
from agents.ports import RECOMMENDED, AgentMetrics, RecommendationStore, Searcher, Shadow, Sink
from agents.timeline import chat_timings, stamp_of
from index.batcher import Clock, Lane
from index.serving import Answer
from index.vector_index import Hit
from schemas import ChatStarted, ChatTimings, Recommendation, RecommendedItem, encode


class ChatHandler:
    """One batch of `chat.started` events in, one `recommendations` event per valid chat out, each naming the model
    that answered and the index state it used; then, off the critical path, the chats go to the shadow.

    Every chat's stages go to the metrics; with `timings` on, the recommendation carries them too."""

    def __init__(
        self,
        *,
        topic: str,
        searcher: Searcher,
        recommendations: Sink,
        dead_letters: DeadLetters,
        store: RecommendationStore,
        metrics: AgentMetrics,
        shadow: Shadow,
        masker: Masker,
        top_k: int,
        timings: bool = False,
        loop_lag: Callable[[], float] = lambda: 0.0,
        clock: Clock = time.time,
    ) -> None:
        self._topic = topic
        self._searcher = searcher
        self._recommendations = recommendations
        self._dead_letters = dead_letters
        self._store = store
        self._metrics = metrics
        self._shadow = shadow
        self._masker = masker
        self._top_k = top_k
        self._timings = timings
        self._loop_lag = loop_lag
        self._clock = clock

    async def __call__(self, batch: Sequence[faust.EventT]) -> None:
        taken = self._clock()
        decoded = await self._dead_letters.decode(ChatStarted, batch)
        # Masked once here, so the active model, the shadow and the rankings all see the same text.
        texts = await self._masker.embedded([chat.text for chat in decoded.records])
        chats = [
            chat if text == chat.text else chat.model_copy(update={"text": text})
            for chat, text in zip(decoded.records, texts, strict=True)
        ]
        searched = await run_isolated(
            decoded.events,
            chats,
            self._search,
            healthy=self._searcher.healthy,
            dead_letters=self._dead_letters,
            what="embedding and search",
        )
        built = [self._recommendation(event, chat, taken, *found) for event, chat, found in searched.done]
        recommendations = [rec for rec, _ in built]
        outputs = [
            (event, rec.chat_id.encode(), encode(rec))
            for (event, _, _), rec in zip(searched.done, recommendations, strict=True)
        ]
        publishing = self._clock()
        delivered = await self._dead_letters.publish_all(self._recommendations, outputs)
        published_s = self._clock() - publishing
        await asyncio.gather(*decoded.dead_letters, *searched.dead_letters)
        built = [pair for pair, ok in zip(built, delivered, strict=True) if ok]
        recommendations = [rec for rec, _ in built]
        if recommendations:
            await self._store.save(recommendations)
            self._metrics.handled(self._topic, RECOMMENDED, len(recommendations))
            for rec, timings in built:
                self._metrics.recommended(rec.latency_ms)
                self._metrics.chat_stages(rec.model, timings, published_s)
        self._offer_to_shadow(searched.done, {rec.chat_id: rec for rec in recommendations})

    def _offer_to_shadow(
        self,
        done: list[tuple[faust.EventT, ChatStarted, tuple[list[Hit], Answer]]],
        delivered: dict[str, Recommendation],
    ) -> None:
        """After the recommendations are out: per model answer (one, unless a batch was retried one by one)."""
        by_answer: dict[int, tuple[Answer, list[ChatStarted], list[list[str]], list[float]]] = {}
        for _, chat, (hits, answer) in done:
            rec = delivered.get(chat.chat_id)
            if rec is None:
                continue
            group = by_answer.setdefault(id(answer), (answer, [], [], []))
            group[1].append(chat)
            group[2].append([h.content_id for h in hits])
            group[3].append(rec.latency_ms)
        for answer, chats, rankings, latencies in by_answer.values():
            self._shadow.offer(chats, answer, rankings, latencies)

    async def _search(self, chats: list[ChatStarted]) -> list[tuple[list[Hit], Answer]]:
        answer = await self._searcher.query([c.text for c in chats], self._top_k, "saved_response", Lane.CHAT)
        return [(hits, answer) for hits in answer.hits]

    def _recommendation(
        self, event: faust.EventT, chat: ChatStarted, taken: float, hits: list[Hit], answer: Answer
    ) -> tuple[Recommendation, ChatTimings]:
        built = self._clock()
        now = datetime.fromtimestamp(built, UTC)
        timings = chat_timings(chat.created_at, stamp_of(event.message), taken, answer.moments, built, self._loop_lag())
        rec = Recommendation(
            chat_id=chat.chat_id,
            items=[
                RecommendedItem(content_id=h.content_id, kind="saved_response", title=h.title, score=round(h.score, 4))
                for h in hits
            ],
            model=answer.model_id,
            index=answer.watermark,
            created_at=now,
            latency_ms=round((now - chat.created_at).total_seconds() * 1000, 1),
            timings=timings if self._timings else None,
        )
        return rec, timings


def register_chat_agent(
    app: faust.App, topic: faust.TopicT, handle: ChatHandler, *, max_batch: int, take: Take, in_flight: int
) -> None:
    # Twice as many batches in flight as the encoder runs at once (`in_flight`): while those are encoded,
    # the others wait in the micro-batcher (which merges them into the next model call) or for Kafka and Redis.
    register_batch_agent(app, topic, "chat_started", handle, max_batch=max_batch, take=take, in_flight=in_flight)
