"""The usage dataset counts each chat once: its first used response, however many agents or retries named it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import UsageExample
from streams.clients.usage import UsageSet, first_per_chat

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def example(chat_id: str, content_id: str, minutes: int, rank: int | None = 1) -> UsageExample:
    return UsageExample(
        chat_id=chat_id,
        text="where is my card",
        content_id=content_id,
        source="recommended" if rank else "search",
        rank=rank,
        shown=["card_arrival", "lost_card", "change_pin"],
        model="m",
        at=T0 + timedelta(minutes=minutes),
    )


def test_each_chat_keeps_its_first_used_response_oldest_chat_first() -> None:
    kept = first_per_chat([example("c-2", "lost_card", 5), example("c-1", "card_arrival", 3, rank=None),
                           example("c-2", "card_arrival", 4), example("c-2", "card_arrival", 4)])  # fmt: skip
    assert [(e.chat_id, e.content_id) for e in kept] == [("c-1", "card_arrival"), ("c-2", "card_arrival")]
    found = UsageSet(kept, unreadable=0)
    assert found.by_source() == {"search": 1, "recommended": 1} and found.by_rank() == {1: 1}
