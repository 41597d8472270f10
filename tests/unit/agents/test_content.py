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
    def __init__(self, *models: str, kept: set[str] | None = None) -> None:
        self.rows: dict[str, bytes] = {}
        self.embedder = FakeEmbedder(models=models or ("fake-model",), kept=kept)
        self.dead, self.metrics = FakeSink(), FakeMetrics()
        self.handle = ContentHandler(
            topic=TOPIC,
            embedder=self.embedder,
            rows=self.rows,
            dead_letters=DeadLetters(self.dead, self.metrics),
            metrics=self.metrics,
        )

    def entry(self, content_id: str) -> ContentEntry:
        return ContentEntry.model_validate_json(self.rows[content_id])


def upsert(content_id: str, version: int, title: str = "Card delivery", **extra: Any) -> Any:
    body = {"content_id": content_id, "kind": "saved_response", "op": "upsert", "version": version, "title": title,
            "body": "Cards arrive in 3-5 working days.", **extra}  # fmt: skip
    return event(orjson.dumps(body), topic=TOPIC)


def delete(content_id: str, version: int) -> Any:
    return event(orjson.dumps({"content_id": content_id, "op": "delete", "version": version}), topic=TOPIC)


async def test_an_upsert_writes_a_row_with_its_texts_and_one_vector_per_text_from_each_loaded_model() -> None:
    wired = Wired("active-model", "candidate")
    await wired.handle([upsert("card_arrival", 1, example_queries=["where is my card", "card not here"])])

    texts = ["Card delivery. Cards arrive in 3-5 working days.", "where is my card", "card not here"]
    assert wired.embedder.calls_by_model == [("active-model", texts), ("candidate", texts)]
    entry = wired.entry("card_arrival")
    assert (entry.version, entry.kind, entry.title, entry.deleted) == (1, "saved_response", "Card delivery", False)
    assert entry.texts == texts and len(entry.text_hashes) == 3
    for model_id in ("active-model", "candidate"):
        rows = entry.rows_of(model_id)
        assert rows is not None and rows.shape == (3, 8)
    assert not np.allclose(entry.rows_of("active-model"), entry.rows_of("candidate"))
    assert wired.metrics.outcomes == {(TOPIC, INDEXED): 1}


async def test_an_event_no_newer_than_the_table_costs_no_encoder_call() -> None:
    wired = Wired()
    await wired.handle([upsert("a", 2)])
    await wired.handle([upsert("a", 2), upsert("a", 1, title="Older")])

    assert len(wired.embedder.calls) == 1
    assert wired.entry("a").version == 2
    assert wired.metrics.outcomes == {(TOPIC, INDEXED): 1, (TOPIC, UNCHANGED): 2}


async def test_the_same_version_lacking_a_loaded_models_vectors_is_re_embedded_and_keeps_the_others() -> None:
    old = Wired("old-model")
    await old.handle([upsert("a", 3)])
    wired = Wired("new-model", kept={"new-model", "old-model"})
    wired.rows.update(old.rows)
    await wired.handle([upsert("a", 3)])
    assert set(wired.entry("a").vectors) == {"new-model", "old-model"}
    assert len(wired.embedder.calls) == 1


async def test_an_edit_drops_vectors_of_the_old_texts_and_of_models_the_registry_no_longer_runs() -> None:
    wired = Wired("active", "candidate", kept={"active", "candidate", "previous"})
    old = Wired("active", "candidate", "previous", "retired")
    await old.handle([upsert("a", 1), upsert("b", 1)])
    wired.rows.update(old.rows)
    await wired.handle([upsert("a", 2, title="New title"), upsert("b", 2)])  # b's texts stay the same
    assert set(wired.entry("a").vectors) == {"active", "candidate"}  # previous's were of the old texts
    assert set(wired.entry("b").vectors) == {"active", "candidate", "previous"}


async def test_a_candidate_that_fails_leaves_its_vectors_to_the_backfill_and_the_item_is_indexed() -> None:
    wired = Wired("active", "candidate")
    wired.embedder.failing = {"candidate"}
    await wired.handle([upsert("a", 1)])
    assert set(wired.entry("a").vectors) == {"active"}
    assert wired.metrics.outcomes == {(TOPIC, INDEXED): 1}
    assert wired.dead.sent == []


async def test_a_legacy_row_of_one_model_reads_as_that_models_vectors_without_texts() -> None:
    legacy = {"content_id": "a", "version": 3, "model": "old", "kind": "help_article", "title": "T",
              "text_hashes": ["h"], "dtype": "float32", "vectors": "AAAAAAAAAAA="}  # fmt: skip
    entry = ContentEntry.model_validate(legacy)
    assert entry.texts == [] and set(entry.vectors) == {"old"}
    wired = Wired("old")
    wired.rows["a"] = orjson.dumps(legacy)
    await wired.handle([upsert("a", 3)])  # the CMS publishes it again: its texts are stored from now on
    assert wired.entry("a").texts


async def test_a_tombstone_is_not_resurrected_by_an_upsert_of_the_same_version() -> None:
    wired = Wired("new-model")
    wired.rows["a"] = ContentEntry(content_id="a", version=3, deleted=True).model_dump_json().encode()
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
