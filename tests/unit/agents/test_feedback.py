"""`FeedbackHandler` on real rankings kept in the in-process key-value store: a chat counts once, whoever votes."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from agents.dead_letters import DeadLetters
from agents.feedback import FeedbackHandler
from agents.usage import UsageJoin
from index.kv import MemoryKeyValue
from schemas import Recommendation, RecommendationFeedback, RecommendedItem, UsageExample, encode
from streams.engine.rankings import RankingStore
from streams.engine.recommendation_store import RecommendationStore
from streams.engine.tallies import Tallies
from tests.unit.agents.fakes import WATERMARK, FakeMetrics, FakeSink, event


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


async def test_a_response_used_on_an_interleaved_chat_is_a_vote_for_the_model_that_contributed_it() -> None:
    kv = MemoryKeyValue()
    store = RecommendationStore(lambda: kv, 60)
    rankings = RankingStore(lambda: kv, store, 60)
    items = [("card_arrival", "cand"), ("lost_card", "act"), ("change_pin", "cand")]
    recs = [
        Recommendation(
            chat_id=f"c-{i}",
            items=[RecommendedItem(content_id=c, kind="saved_response", title=c, score=0.5, model=m) for c, m in items],
            model="act",
            candidate="cand",
            index=WATERMARK,
            created_at=datetime.now(UTC),
            latency_ms=20.0,
        )
        for i in range(4)
    ]
    await store.save(recs)
    tallies = Tallies()
    handler = FeedbackHandler(rankings=rankings, tally=tallies, dead_letters=DeadLetters(FakeSink(), FakeMetrics()))
    votes = [
        used("c-0", "ann", "card_arrival"),
        used("c-0", "bob", "lost_card"),  # a chat votes once
        used("c-1", "ann", "lost_card"),
        used("c-2", "ann", "change_pin"),
        used("c-3", "ann", "top_up"),  # found by search: neither model's pick
    ]
    await handler([event(v, topic="recommendation.feedback", offset=i) for i, v in enumerate(votes)])
    cand = tallies["cand"]
    assert (cand.interleave_wins, cand.interleave_losses, cand.interleave_no_vote) == (2, 1, 1)
    assert tallies["act"].feedback == 0 and cand.feedback == 0  # the list shown was neither model's ranking


class Texts:
    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts

    async def text(self, chat_id: str) -> str | None:
        return self.texts.get(chat_id)


async def test_each_used_response_becomes_a_usage_example_with_the_chats_masked_text_and_what_was_shown() -> None:
    kv = MemoryKeyValue()
    store = RecommendationStore(lambda: kv, 60)
    rankings = RankingStore(lambda: kv, store, 60)
    await rankings.save({"c-1": "m", "c-2": "m"}, {"c-1": {"m": ["lost_card", "card_arrival"]}, "c-2": {"m": ["x"]}})
    usage, dead = FakeSink(), FakeSink()
    handler = FeedbackHandler(
        rankings=rankings,
        tally=Tallies(),
        dead_letters=DeadLetters(dead, FakeMetrics()),
        usage=(UsageJoin(Texts({"c-1": "my card [card] is lost"})), usage),
    )
    searched = RecommendationFeedback(
        chat_id="c-1", content_id="card_arrival", source="search", action="used", agent="ann", at=datetime.now(UTC)
    )
    votes = [encode(searched), used("c-2", "bob", "x"), used("c-3", "bob")]  # c-2: no text kept; c-3: unknown
    await handler([event(v, topic="recommendation.feedback", offset=i) for i, v in enumerate(votes)])
    (sent,) = usage.sent
    example = UsageExample.model_validate_json(sent.value or b"")
    assert (sent.key, example.text, example.content_id) == (b"c-1", "my card [card] is lost", "card_arrival")
    assert (example.source, example.rank, example.shown, example.model) == (
        "search",
        None,
        ["lost_card", "card_arrival"],
        "m",
    )
    assert dead.sent == []
