"""Usage as training data: a miss found by search weighs most, a response used further down the list more than one
used at the top, the kept-out chats are the same on every run and never trained on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import UsageExample
from streams.tune.usage import MAX_WEIGHT, examination, kept_out, merged, usage_data

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def used(chat: str, item: str, rank: int | None, text: str | None = None) -> UsageExample:
    return UsageExample(
        chat_id=chat,
        text=text or f"text of {chat}",
        content_id=item,
        source="recommended" if rank else "search",
        rank=rank,
        shown=["a", "b", "c"],
        model="m",
        at=T0,
    )


EXAMPLES = [used(f"c{i}", "a", 1) for i in range(8)] + [used(f"d{i}", "b", 2) for i in range(4)]
EXAMPLES += [used("e0", "c", 3), used("s0", "c", None)]


def test_agents_look_less_often_further_down_and_never_below_the_cap() -> None:
    assert examination(EXAMPLES) == {1: 1.0, 2: 0.5, 3: pytest.approx(1 / MAX_WEIGHT)}
    assert examination([used("s", "a", None)]) == {}


def test_a_miss_weighs_most_and_a_lower_rank_more_than_the_top() -> None:
    data = usage_data(EXAMPLES, {"a", "b", "c"}, 0.0, seed=1)
    weights = data.weights
    assert weights["text of s0"] == MAX_WEIGHT
    assert weights["text of c0"] == 1.0 < weights["text of d0"] == 2.0 < weights["text of e0"] <= MAX_WEIGHT
    assert data.texts() == len(EXAMPLES) and not data.kept_out


def test_before_any_top_use_a_used_response_weighs_one_and_a_miss_the_most() -> None:
    data = usage_data([used("r", "a", 2), used("s", "a", None)], {"a"}, 0.0, seed=1)
    assert data.weights == {"text of r": 1.0, "text of s": MAX_WEIGHT}


def test_a_kept_out_chats_words_are_not_trained_on_through_another_chat() -> None:
    same = [used(f"k{i}", "a", 1, text="where is my card") for i in range(40)]
    data = usage_data(same, {"a"}, 0.5, seed=7)
    assert data.kept_out and "where is my card" not in data.train.get("a", [])


def test_usage_of_a_deleted_response_is_left_out() -> None:
    data = usage_data(EXAMPLES, {"a", "b"}, 0.0, seed=1)
    assert "c" not in data.train and data.texts() == 12


def test_the_kept_out_chats_follow_the_seed_and_are_never_trained_on() -> None:
    many = [used(f"k{i}", "a", 1) for i in range(1000)]
    data = usage_data(many, {"a"}, 0.2, seed=7)
    assert 150 < len(data.kept_out) < 250
    assert not {t for t, _ in data.kept_out} & set(data.train["a"])
    assert data.kept_out == usage_data(many, {"a"}, 0.2, seed=7).kept_out
    assert data.kept_out != usage_data(many, {"a"}, 0.2, seed=8).kept_out
    assert kept_out("k1", 0.0, 7) is False and kept_out("k1", 1.0, 7) is True
    assert sum(map(len, data.every_text().values())) == 1000


def test_merged_weights_average_one_and_keep_their_order() -> None:
    queries = {"a": ["how do i", "text of c0"], "z": ["only queries"]}
    texts, weights = merged(queries, usage_data(EXAMPLES, {"a", "b", "c"}, 0.0, seed=1))
    assert texts["z"] == ["only queries"] and texts["a"].count("text of c0") == 1
    every = [weights[t] for item in texts.values() for t in item]
    assert sum(every) / len(every) == pytest.approx(1.0)
    assert weights["text of s0"] > weights["text of d0"] > weights["how do i"] == weights["text of c0"]
