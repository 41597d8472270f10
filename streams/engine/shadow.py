"""Shadow scoring: each candidate model answers a share of live chats after the active model's recommendation
is out, on batchers that defer to the active one, so the active path never waits for it.

Per model it tallies what `helpstream model list` and `/console/models` show: agreement with the active model,
model time and the chat latency it would have given. Under load the queue fills and chats are shed from the
shadow, never from the active path. The rankings are kept so agents' feedback can be joined to them later.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from mode import Service

from agents.sampling import shadowed
from index.batcher import Lane
from index.serving import Answer
from schemas import ChatStarted
from streams.engine.models import ModelSet
from streams.engine.rankings import RankingStore
from streams.engine.tallies import Tallies

logger = logging.getLogger(__name__)

QUEUE_MAX = 256  # chats waiting for the shadow; more are shed
# Chats per candidate call: a short call, so a chat that arrives while it runs waits little for a core.
BATCH = 8


@dataclass(frozen=True)
class _Pending:
    chat_id: str
    text: str
    active_id: str
    ranking: list[str]
    latency_ms: float
    active_ms: float  # the active model's calls for the chat's batch


class ShadowScorer(Service):
    def __init__(
        self,
        models: ModelSet,
        rankings: RankingStore,
        tallies: Tallies,
        *,
        share: float,
        top_k: int,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._models = models
        self._rankings = rankings
        self._tallies = tallies
        self._share = share
        self._top_k = top_k
        self._queue: deque[_Pending] = deque()
        self._queued = asyncio.Event()

    def offer(
        self, chats: list[ChatStarted], answer: Answer, rankings: list[list[str]], latencies_ms: list[float]
    ) -> None:
        """Never waits: tallies the active model's answer and queues the sampled chats for the candidates."""
        active_ms = answer.encode_seconds * 1000
        self._tallies[answer.model_id].answered(active_ms, latencies_ms)
        candidates = self._models.candidates()
        if not candidates or self._share <= 0:
            return
        for chat, ranking, latency in zip(chats, rankings, latencies_ms, strict=True):
            if not shadowed(chat.chat_id, self._share):
                continue
            if len(self._queue) >= QUEUE_MAX:
                for candidate in candidates:
                    self._tallies[candidate.model_id].shed += 1
                continue
            self._queue.append(_Pending(chat.chat_id, chat.text, answer.model_id, ranking, latency, active_ms))
        if self._queue:
            self._queued.set()

    @Service.task
    async def _score(self) -> None:
        while not self.should_stop:
            await self._queued.wait()
            taken = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            if not self._queue:
                self._queued.clear()
            if taken:
                try:
                    await self._score_batch(taken)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("shadow scoring of %s chats failed; they are left out of the figures", len(taken))

    async def _score_batch(self, taken: list[_Pending]) -> None:
        rankings = {p.chat_id: {p.active_id: p.ranking} for p in taken}
        for candidate in self._models.candidates():
            try:
                answer = await candidate.answer([p.text for p in taken], self._top_k, "saved_response", Lane.CHAT)
            except Exception as exc:  # retired meanwhile, or broken: the other candidates are still scored
                logger.warning("shadow scoring of %s chats by %s failed (%r)", len(taken), candidate.model_id, exc)
                continue
            tally = self._tallies[candidate.model_id]
            model_ms = answer.encode_seconds * 1000
            # The chat latency this model would have given: the active path's, with its model calls swapped
            # (the wait for the active model to be idle is the shadow's own, not a chat's).
            tally.answered(model_ms, [p.latency_ms - p.active_ms + model_ms for p in taken])
            for pending, hits in zip(taken, answer.hits, strict=True):
                ranking = [h.content_id for h in hits]
                tally.agreed(ranking, pending.ranking)
                rankings[pending.chat_id][candidate.model_id] = ranking
        await self._rankings.save({p.chat_id: p.active_id for p in taken}, rankings)
