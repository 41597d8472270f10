"""Consumes `chat.started`: embeds each micro-batch's first turns in one call, publishes `recommendations`."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import faust

from agents.dead_letters import DeadLetters
from agents.delivery import Take, register_batch_agent
from agents.interleaving import team_draft, tied
from agents.isolation import run_isolated
from agents.masking import Masker
from agents.ports import RECOMMENDED, AgentMetrics, InterleaveTally, RecommendationStore, Searcher, Shadow, Sink
from agents.sampling import interleaved
from agents.timeline import chat_timings, stamp_of
from index.batcher import Clock, Lane
from index.serving import Answer
from index.vector_index import Hit
from schemas import ChatStarted, ChatTimings, Recommendation, RecommendedItem, encode

logger = logging.getLogger(__name__)

WARN_EVERY_S = 60.0


@dataclass(frozen=True)
class _Found:
    hits: list[Hit]  # what the agent is shown
    answer: Answer  # the active model's
    ranking: list[str]  # the active model's own ranking
    candidate: str | None = None  # on an interleaved chat, the candidate mixed in
    credited: list[str | None] | None = None  # ... and per item shown, the model that contributed it (None: a tie)


Done = tuple[faust.EventT, ChatStarted, _Found]


class ChatHandler:
    """One batch of `chat.started` events in, one `recommendations` event per valid chat out, each naming the model
    that answered and the index state it used; then, off the critical path, the chats go to the shadow.

    On the share of chats chosen for interleaving, once a candidate covers the table here, the candidate answers
    them too, after the batch's other chats are out, and they are shown a team-draft interleaving of the two
    rankings; when the candidate fails they get the active model's (it is judged, never relied on).

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
        interleave_share: float = 0.0,
        interleavings: InterleaveTally | None = None,
        challenge_timeout_s: float = 0.5,
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
        self._interleave_share = interleave_share
        self._interleavings = interleavings
        self._challenge_timeout_s = challenge_timeout_s
        self._warned_at = 0.0
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
        judging = self._interleave_share > 0 and self._searcher.challenger() is not None
        picked = [judging and interleaved(chat.chat_id, self._interleave_share) for _, chat, _ in searched.done]
        mixed = [d for d, pick in zip(searched.done, picked, strict=True) if pick]
        await self._deliver([d for d, pick in zip(searched.done, picked, strict=True) if not pick], taken)
        await asyncio.gather(*decoded.dead_letters, *searched.dead_letters)
        if mixed:
            await self._deliver(await self._interleave(mixed), taken, offer=False)

    async def _deliver(self, done: list[Done], taken: float, *, offer: bool = True) -> None:
        """Publish, keep and count the chats' recommendations, then offer them to the shadow (which tallies the
        active model's answer once: not again for the interleaved chats of the same batch)."""
        if not done:
            return
        built = [self._recommendation(event, chat, taken, found) for event, chat, found in done]
        outputs = [
            (event, rec.chat_id.encode(), encode(rec)) for (event, _, _), (rec, _) in zip(done, built, strict=True)
        ]
        publishing = self._clock()
        delivered = await self._dead_letters.publish_all(self._recommendations, outputs)
        published_s = self._clock() - publishing
        built = [pair for pair, ok in zip(built, delivered, strict=True) if ok]
        recommendations = [rec for rec, _ in built]
        if recommendations:
            kept = {rec.chat_id for rec in recommendations}
            chats = [chat for _, chat, _ in done if chat.chat_id in kept]
            # Masked whatever HELPSTREAM_EMBED_MASKED says: it becomes training data.
            masked = await self._masker.shown([chat.text for chat in chats])
            await self._store.save(recommendations, {c.chat_id: t for c, t in zip(chats, masked, strict=True)})
            self._metrics.handled(self._topic, RECOMMENDED, len(recommendations))
            for rec, timings in built:
                self._metrics.recommended(rec.latency_ms)
                self._metrics.chat_stages(rec.model, timings, published_s)
        if offer:
            self._offer_to_shadow(done, {rec.chat_id: rec.latency_ms for rec in recommendations})

    def _offer_to_shadow(self, done: list[Done], delivered: dict[str, float]) -> None:
        """After the recommendations are out: per model answer (one, unless a batch was retried one by one)."""
        by_answer: dict[int, tuple[Answer, list[ChatStarted], list[list[str]], list[float]]] = {}
        for _, chat, found in done:
            latency_ms = delivered.get(chat.chat_id)
            if latency_ms is None:
                continue
            group = by_answer.setdefault(id(found.answer), (found.answer, [], [], []))
            group[1].append(chat)
            group[2].append(found.ranking)
            group[3].append(latency_ms)
        for answer, chats, rankings, latencies in by_answer.values():
            self._shadow.offer(chats, answer, rankings, latencies)

    async def _search(self, chats: list[ChatStarted]) -> list[_Found]:
        answer = await self._searcher.query([c.text for c in chats], self._top_k, "saved_response", Lane.CHAT)
        return [_Found(hits, answer, [h.content_id for h in hits]) for hits in answer.hits]

    async def _interleave(self, done: list[Done]) -> list[Done]:
        """The candidate's rankings of these chats, each interleaved with the active model's; the active model's
        alone when there is no candidate, or it fails or is slow: it yields to the active model, so under load it
        may wait, and these chats wait no longer than `challenge_timeout_s` for it."""
        texts = [chat.text for _, chat, _ in done]
        try:
            other = await asyncio.wait_for(
                self._searcher.challenge(texts, self._top_k, "saved_response", Lane.CHAT), self._challenge_timeout_s
            )
        except Exception as exc:  # TimeoutError too
            if self._clock() - self._warned_at > WARN_EVERY_S:
                self._warned_at = self._clock()
                logger.warning(
                    "the candidate did not answer %s interleaved chats (%r): they get the active model's list "
                    "(said at most once a minute)",
                    len(done),
                    exc,
                )
            return done
        if other is None or other.model_id == done[0][2].answer.model_id:
            return done
        if self._interleavings is not None:
            self._interleavings.shown(other.model_id, len(done))
        mixed: list[Done] = []
        for (event, chat, found), hits in zip(done, other.hits, strict=True):
            pools = {"active": {h.content_id: h for h in found.hits}, "candidate": {h.content_id: h for h in hits}}
            models = {"active": found.answer.model_id, "candidate": other.model_id}
            ranking = [h.content_id for h in hits]
            # Seeded by the chat: a retried chat is shown the same list.
            shown = team_draft(found.ranking, ranking, self._top_k, random.Random(chat.chat_id))
            interleaving = replace(
                found,
                hits=[pools[team][content_id] for content_id, team in shown],
                candidate=other.model_id,
                credited=[None if tied(found.ranking, ranking, cid) else models[team] for cid, team in shown],
            )
            mixed.append((event, chat, interleaving))
        return mixed

    def _recommendation(
        self, event: faust.EventT, chat: ChatStarted, taken: float, found: _Found
    ) -> tuple[Recommendation, ChatTimings]:
        built = self._clock()
        now = datetime.fromtimestamp(built, UTC)
        answer = found.answer
        timings = chat_timings(chat.created_at, stamp_of(event.message), taken, answer.moments, built, self._loop_lag())
        credited = found.credited or [None] * len(found.hits)
        rec = Recommendation(
            chat_id=chat.chat_id,
            items=[
                RecommendedItem(
                    content_id=h.content_id, kind="saved_response", title=h.title, score=round(h.score, 4), model=model
                )
                for h, model in zip(found.hits, credited, strict=True)
            ],
            model=answer.model_id,
            candidate=found.candidate,
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
