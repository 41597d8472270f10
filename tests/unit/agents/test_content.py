"""The content handler without a broker: version checks, re-embedding only what changed, tombstones, dead letters."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from agents.content import ContentHandler
from agents.dead_letters import DeadLetters
from agents.ports import DEAD_LETTERED, INDEXED, UNCHANGED
from schemas import ContentEntry
from tests.unit.agents.fakes import FakeEmbedder, FakeMetrics, FakeSink, event

TOPIC = "content.updated"


class Wired:
    def __init__(self, model_id: str = "fake-model") -> None:
        self.rows: dict[str, bytes] = {}
        self.embedder, self.dead, self.metrics = FakeEmbedder(), FakeSink(), FakeMetrics()
        self.handle = ContentHandler(
            topic=TOPIC,
            embedder=self.embedder,
            rows=self.rows,
            dead_letters=DeadLetters(self.dead, self.metrics),
            metrics=self.metrics,
            model_id=model_id,
        )

    def entry(self, content_id: str) -> ContentEntry:
        return ContentEntry.model_validate_json(self.rows[content_id])


def upsert(content_id: str, version: int, title: str = "Card delivery", **extra: Any) -> Any:
    body = {"content_id": content_id, "kind": "saved_response", "op": "upsert", "version": version, "title": title,
            "body": "Cards arrive in 3-5 working days.", **extra}  # fmt: skip
    return event(orjson.dumps(body), topic=TOPIC)


def delete(content_id: str, version: int) -> Any:
    return event(orjson.dumps({"content_id": content_id, "op": "delete", "version": version}), topic=TOPIC)


async def test_an_upsert_writes_a_row_with_one_vector_per_text_from_this_model() -> None:
    wired = Wired()
    await wired.handle([upsert("card_arrival", 1, example_queries=["where is my card", "card not here"])])

    assert wired.embedder.calls == [
        ["Card delivery. Cards arrive in 3-5 working days.", "where is my card", "card not here"]
    ]
    entry = wired.entry("card_arrival")
    assert (entry.version, entry.model, entry.kind, entry.title, entry.deleted) == (
        1, "fake-model", "saved_response", "Card delivery", False
    )  # fmt: skip
    assert np.frombuffer(entry.vectors, dtype=entry.dtype).reshape(3, -1).shape == (3, 8)
    assert len(entry.text_hashes) == 3
    assert wired.metrics.outcomes == {(TOPIC, INDEXED): 1}


async def test_an_event_no_newer_than_the_table_costs_no_encoder_call() -> None:
    wired = Wired()
    await wired.handle([upsert("a", 2)])
    await wired.handle([upsert("a", 2), upsert("a", 1, title="Older")])

    assert len(wired.embedder.calls) == 1
    assert wired.entry("a").version == 2
    assert wired.metrics.outcomes == {(TOPIC, INDEXED): 1, (TOPIC, UNCHANGED): 2}


async def test_the_same_version_from_another_model_is_re_embedded() -> None:
    old = Wired(model_id="old-model")
    await old.handle([upsert("a", 3)])
    wired = Wired(model_id="new-model")
    wired.rows.update(old.rows)
    await wired.handle([upsert("a", 3)])
    assert wired.entry("a").model == "new-model"
    assert len(wired.embedder.calls) == 1


async def test_a_tombstone_from_another_model_is_not_resurrected_by_an_upsert_of_the_same_version() -> None:
    wired = Wired(model_id="new-model")
    wired.rows["a"] = (
        ContentEntry(content_id="a", version=3, model="old-model", deleted=True).model_dump_json().encode()
    )
    await wired.handle([upsert("a", 3)])
    assert wired.entry("a").deleted
    assert wired.embedder.calls == []
    assert wired.metrics.outcomes == {(TOPIC, UNCHANGED): 1}


async def test_within_a_batch_only_the_newest_event_of_an_item_counts_whatever_its_position() -> None:
    wired = Wired()
    await wired.handle([upsert("a", 5, title="Five"), upsert("a", 4, title="Four"), upsert("b", 1)])
    assert wired.entry("a").title == "Five"
    assert wired.embedder.calls == [
        ["Five. Cards arrive in 3-5 working days.", "Card delivery. Cards arrive in 3-5 working days."]
    ]


async def test_a_delete_leaves_a_tombstone_that_a_late_older_upsert_cannot_overwrite() -> None:
    wired = Wired()
    await wired.handle([upsert("a", 1)])
    await wired.handle([delete("a", 2)])
    assert wired.entry("a").deleted
    await wired.handle([upsert("a", 1, title="Resurrected")])
    assert wired.entry("a").deleted
    assert wired.entry("a").version == 2


async def test_a_delete_of_an_unknown_item_writes_nothing() -> None:
    wired = Wired()
    await wired.handle([delete("ghost", 1)])
    assert wired.rows == {}
    assert wired.embedder.calls == []


async def test_an_incomplete_upsert_is_dead_lettered_and_the_rest_of_its_batch_is_indexed() -> None:
    wired = Wired()
    incomplete = event(b'{"content_id": "x", "op": "upsert", "version": 1}', topic=TOPIC)
    await wired.handle([upsert("a", 1), incomplete, upsert("b", 1)])
    assert sorted(wired.rows) == ["a", "b"]
    assert "an upsert needs kind, title, body" in orjson.loads(wired.dead.sent[0].value or b"")["reason"]
    assert wired.metrics.outcomes == {(TOPIC, INDEXED): 2, (TOPIC, DEAD_LETTERED): 1}


async def test_an_item_the_model_cannot_embed_is_dead_lettered_and_the_rest_of_its_batch_is_indexed() -> None:
    wired = Wired()
    wired.embedder.poison = "poison query"
    await wired.handle([upsert("a", 1), upsert("b", 1, example_queries=["poison query"]), upsert("c", 1)])
    assert sorted(wired.rows) == ["a", "c"]
    assert (
        "embedding failed: RuntimeError('tokenizer exploded')"
        in orjson.loads(wired.dead.sent[0].value or b"")["reason"]
    )
    assert wired.metrics.outcomes == {(TOPIC, INDEXED): 2, (TOPIC, DEAD_LETTERED): 1}


async def test_every_field_of_an_item_is_bounded_and_the_reason_names_the_limit() -> None:
    wired = Wired()
    await wired.handle(
        [
            upsert("a", 1, title="t" * 301),
            upsert("b", 1, body="b" * 20_001),
            upsert("c", 1, example_queries=["q" * 1001]),
            upsert("d", 1, example_queries=["q"] * 501),
        ]
    )
    reasons = [orjson.loads(sent.value or b"")["reason"] for sent in wired.dead.sent]
    assert reasons == [
        "title: String should have at most 300 characters",
        "body: String should have at most 20000 characters",
        "example_queries.0: String should have at most 1000 characters",
        "example_queries: List should have at most 500 items after validation, not 501",
    ]
    assert wired.rows == {}
