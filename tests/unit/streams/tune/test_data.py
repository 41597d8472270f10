"""The tuning split: seeded, stable, per item, and never empties an item's training queries; the held-out chats
masked."""

from __future__ import annotations

from pathlib import Path

import orjson

from schemas import ContentUpdated
from streams.tune.data import held_out_chats, split, without_kept_out


def item(content_id: str, queries: list[str], kind: str = "saved_response") -> ContentUpdated:
    return ContentUpdated.model_validate(
        {
            "content_id": content_id,
            "kind": kind,
            "op": "upsert",
            "version": 1,
            "title": content_id,
            "body": "body",
            "example_queries": queries,
        }
    )


CONTENT = [
    item("lost_card", [f"lost card {i}" for i in range(20)]),
    item("fees", ["what fees", "any charges"]),
    item("help_article", ["how to"], kind="help_article"),
]


def test_a_tenth_of_each_items_queries_is_kept_out_and_the_rest_trained_on() -> None:
    data = split(CONTENT, 0.1, seed=7)
    assert set(data.train) == {"lost_card", "fees"}  # saved responses only
    assert len(data.kept_out["lost_card"]) == 2 and len(data.train["lost_card"]) == 18
    assert not set(data.kept_out["lost_card"]) & set(data.train["lost_card"])
    assert data.train["fees"] and len(data.kept_out["fees"]) <= 1


def test_the_split_depends_on_the_seed_not_on_the_order_of_the_queries() -> None:
    shuffled = [item("lost_card", list(reversed(CONTENT[0].example_queries))), *CONTENT[1:]]
    assert split(CONTENT, 0.1, 7).kept_out == split(shuffled, 0.1, 7).kept_out
    assert split(CONTENT, 0.1, 7).kept_out != split(CONTENT, 0.1, 8).kept_out


def test_kept_out_queries_are_not_in_the_content_the_kept_out_figure_is_measured_on() -> None:
    data = split(CONTENT, 0.1, 7)
    reduced = {c.content_id: c for c in without_kept_out(CONTENT, data)}
    assert not set(data.kept_out["lost_card"]) & set(reduced["lost_card"].example_queries)


def test_the_model_written_learns_from_every_example_query_once() -> None:
    data = split(CONTENT, 0.1, 7)
    every = data.every_query()
    assert sorted(every["lost_card"]) == sorted(CONTENT[0].example_queries)
    assert sorted(every["fees"]) == sorted(CONTENT[1].example_queries)
    assert "help_article" not in every


def test_held_out_chats_are_masked_and_only_those_of_known_items(tmp_path: Path) -> None:
    chats = tmp_path / "chats.jsonl"
    rows = [
        {"text": "my card is gone, write to jane.doe@example.com", "category": "lost_card"},
        {"text": "what fees", "category": "fees"},
        {"text": "unlabelled"},
        {"text": "other", "category": "not_in_the_cms"},
    ]
    chats.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    held = held_out_chats({"lost_card", "fees"}, chats)
    assert [item for _, item in held] == ["lost_card", "fees"]
    assert held[0][0] == "my card is gone, write to [email]"
