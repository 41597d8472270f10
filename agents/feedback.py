"""Consumes `recommendation.feedback`: joins each response an agent used with every model's ranking of that chat,
so each model's live quality (top-1 use rate, MRR) is measured on what agents actually used, and on an interleaved
chat counts it as a vote for the model that contributed it. Each used response also becomes a usage example
(`agents.usage`): training data."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import faust

from agents.dead_letters import DeadLetters
from agents.delivery import Take, register_batch_agent
from agents.ports import FeedbackTally, Ranked, Rankings, Sink, Vote
from agents.usage import UsageJoin
from schemas import RecommendationFeedback, encode


def rank_of(ranking: list[str], content_id: str) -> int | None:
    return ranking.index(content_id) + 1 if content_id in ranking else None


def _vote(found: Ranked, content_id: str) -> Vote | None:
    contributor = (found.credited or {}).get(content_id)
    if contributor == found.candidate:
        return "candidate"
    return "active" if contributor == found.active else None


class FeedbackHandler:
    """A `used` response counts for every model that ranked the chat, once per chat (the first used response
    counted; a second agent or a repeated event does not weigh twice); `dismissed` ones are not a ranking signal
    (an agent dismisses what does not fit, whichever model proposed it). On an interleaved chat the list shown was
    neither model's ranking, so it is a vote and nothing else."""

    def __init__(
        self,
        *,
        rankings: Rankings,
        tally: FeedbackTally,
        dead_letters: DeadLetters,
        usage: tuple[UsageJoin, Sink] | None = None,
    ) -> None:
        self._rankings = rankings
        self._tally = tally
        self._dead_letters = dead_letters
        self._usage = usage

    async def __call__(self, batch: Sequence[faust.EventT]) -> None:
        decoded = await self._dead_letters.decode(RecommendationFeedback, batch)
        examples: list[tuple[faust.EventT, bytes, bytes]] = []
        for event, feedback in zip(decoded.events, decoded.records, strict=True):
            if feedback.action != "used":
                continue
            found = await self._rankings.rankings(feedback.chat_id)
            if found is None:
                continue
            # Every used response, so a retried batch loses none: `helpstream usage` keeps each chat's first.
            if self._usage is not None and (example := await self._usage[0].example(feedback, found)) is not None:
                examples.append((event, feedback.chat_id.encode(), encode(example)))
            if not await self._rankings.first_vote(feedback.chat_id):
                continue
            if found.candidate is not None:
                self._tally.voted(found.candidate, _vote(found, feedback.content_id))
                continue
            active_rank = rank_of(found.rankings.get(found.active, []), feedback.content_id)
            paired = len(found.rankings) > 1
            for model_id, ranking in found.rankings.items():
                self._tally.used(model_id, rank_of(ranking, feedback.content_id), active_rank, paired=paired)
        if self._usage is not None and examples:
            # An example the broker refuses dead-letters its feedback event, so it can be replayed.
            await self._dead_letters.publish_all(self._usage[1], examples)
        await asyncio.gather(*decoded.dead_letters)


def register_feedback_agent(
    app: faust.App, topic: faust.TopicT, handle: FeedbackHandler, *, max_batch: int, take: Take
) -> None:
    register_batch_agent(app, topic, "recommendation_feedback", handle, max_batch=max_batch, take=take)
