"""`FeedbackHandler` on real rankings kept in the in-process key-value store: a chat counts once, whoever votes."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from agents.dead_letters import DeadLetters
from agents.feedback import FeedbackHandler
from index.kv import MemoryKeyValue
from schemas import RecommendationFeedback, encode
from streams.engine.rankings import RankingStore
from streams.engine.recommendation_store import RecommendationStore
from streams.engine.tallies import Tallies
from tests.unit.agents.fakes import FakeMetrics, FakeSink, event


def used(chat_id: str, agent: str, content_id: str = "card_arrival") -> bytes:
    feedback = RecommendationFeedback(
        chat_id=chat_id, content_id=content_id, rank=1, action="used", agent=agent, at=datetime.now(UTC)
    )
    return encode(feedback)


async def test_a_chat_counts_once_however_many_agents_or_repeats_name_it() -> None:
    kv = MemoryKeyValue()
    rankings = RankingStore(lambda: kv, RecommendationStore(lambda: kv, 60), 60)
    await rankings.save({"c-1": "m", "c-2": "m"}, {"c-1": {"m": ["card_arrival"]}, "c-2": {"m": ["lost_card"]}})
    tallies = Tallies()
    handler = FeedbackHandler(rankings=rankings, tally=tallies, dead_letters=DeadLetters(FakeSink(), FakeMetrics()))
    votes = [used("c-1", "ann"), used("c-1", "bob"), used("c-1", "ann"), used("c-2", "ann", "lost_card")]
    await handler([event(v, topic="recommendation.feedback", offset=i) for i, v in enumerate(votes)])
    assert tallies["m"].feedback == 2
    assert tallies["m"].feedback_top1 == 2
    assert orjson.loads(votes[0])["agent"] == "ann"
