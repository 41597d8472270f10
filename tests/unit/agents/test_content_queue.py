"""The content queue without a broker: edits and deletes go ahead of a bulk import, model work comes in bounded
parts, a newer version always wins, and an event is acked only once its work is written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import pytest

from agents.content import ContentHandler
from agents.content_queue import ContentQueue
from agents.dead_letters import DeadLetters
from schemas import ContentEntry
from tests.unit.agents.fakes import FakeEmbedder, FakeMetrics, FakeSink, event
from tests.unit.agents.test_content import TOPIC

PART = 100


class GatedEmbedder(FakeEmbedder):
    """Embeds an item of the bulk import (its texts start with "bulk") only once the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.sizes: list[int] = []

    async def embed_content(self, texts: list[str], model_id: str) -> Any:
        self.sizes.append(len(texts))
        if any(text.startswith("bulk") for text in texts):
            await self.gate.wait()
        return await super().embed_content(texts, model_id)


class Wired:
    def __init__(self, *, backlog_texts: int = 10_000, owned: Callable[[Any], bool] = lambda event: True) -> None:
        self.rows: dict[str, bytes] = {}
        self.embedder = GatedEmbedder()
        self.metrics = FakeMetrics()
        self.acked: list[int] = []
        handler = ContentHandler(
            topic=TOPIC,
            embedder=self.embedder,
            rows=self.rows,
            dead_letters=DeadLetters(FakeSink(), self.metrics),
            metrics=self.metrics,
        )
        self.queue = ContentQueue(
            handler, part_texts=PART, backlog_texts=backlog_texts, ack=self.ack, retry=once, owned=owned
        )

    async def ack(self, events: Sequence[Any]) -> None:
        self.acked += [e.message.offset for e in events]

    def version(self, content_id: str) -> int | None:
        raw = self.rows.get(content_id)
        return None if raw is None else ContentEntry.model_validate_json(raw).version

    async def drained(self) -> None:
        async with asyncio.timeout(5):
            while self.queue.queued_texts:
                await asyncio.sleep(0.01)


async def once(size: int, work: Callable[[], Awaitable[None]]) -> None:
    await work()


def item(content_id: str, version: int, *, queries: int, offset: int, marker: str = "bulk") -> Any:
    """An upsert of `queries + 1` texts, each starting with `marker` ("bulk" holds it at the gate)."""
    body = {"content_id": content_id, "kind": "saved_response", "op": "upsert", "version": version,
            "title": f"{marker} {content_id}", "body": "Body.",
            "example_queries": [f"{marker} query {i}" for i in range(queries)]}  # fmt: skip
    return event(orjson.dumps(body), topic=TOPIC, offset=offset)


def delete(content_id: str, version: int, *, offset: int) -> Any:
    value = orjson.dumps({"content_id": content_id, "op": "delete", "version": version})
    return event(value, topic=TOPIC, offset=offset)


def bulk(n: int, *, first_offset: int = 0) -> list[Any]:
    """A bulk import of `n` items, each larger than a part of model work."""
    return [item(f"bulk-{i}", 1, queries=PART + 20, offset=first_offset + i) for i in range(n)]


async def test_an_edit_taken_behind_a_bulk_import_is_written_before_the_import_is_embedded() -> None:
    wired = Wired()
    await wired.queue.put(bulk(5))  # returns at once: the import waits in the backlog
    await wired.queue.put([item("card_arrival", 2, queries=3, offset=5, marker="edit")])

    assert wired.version("card_arrival") == 2
    assert [k for k in wired.rows] == ["card_arrival"]
    assert wired.acked == [5]  # the import's events stay unacked: a crash now reads them again

    wired.embedder.gate.set()
    await wired.drained()
    assert sorted(wired.rows) == [*(f"bulk-{i}" for i in range(5)), "card_arrival"]
    assert sorted(wired.acked) == list(range(6))


async def test_model_work_comes_in_parts_of_at_most_the_part_size_unless_one_item_is_larger() -> None:
    wired = Wired()
    wired.embedder.gate.set()
    small = [item(f"s{i}", 1, queries=29, offset=i, marker="small") for i in range(10)]  # 30 texts each
    await wired.queue.put([*small, *bulk(2, first_offset=10)])
    await wired.drained()
    assert wired.embedder.sizes == [90, 90, 90, 30, PART + 21, PART + 21]
    assert len(wired.rows) == 12 and sorted(wired.acked) == list(range(12))


async def test_a_delete_goes_ahead_of_the_import_and_withdraws_its_item_from_the_backlog() -> None:
    wired = Wired()
    await wired.queue.put(bulk(3))  # bulk-0 goes to the model, bulk-1 and bulk-2 wait
    await asyncio.sleep(0.05)
    await wired.queue.put([delete("bulk-2", 2, offset=3)])  # the CMS withdraws an item still waiting
    assert sorted(wired.acked) == [2, 3]  # the withdrawn upsert's event and the delete's

    wired.embedder.gate.set()
    await wired.drained()
    assert sorted(wired.rows) == ["bulk-0", "bulk-1"]
    assert not any(text.startswith("bulk bulk-2") for call in wired.embedder.calls for text in call)


async def test_a_delete_of_an_item_at_the_model_keeps_it_out_of_the_index() -> None:
    wired = Wired()
    await wired.queue.put(bulk(1))
    await asyncio.sleep(0.05)  # its part is at the model, out of the backlog
    await wired.queue.put([delete("bulk-0", 2, offset=1)])
    wired.embedder.gate.set()
    await wired.drained()
    assert "bulk-0" not in wired.rows
    assert sorted(wired.acked) == [0, 1]


async def test_a_part_that_finishes_after_a_newer_version_was_written_leaves_the_newer_one() -> None:
    wired = Wired()
    await wired.queue.put(bulk(1))
    await asyncio.sleep(0.05)  # its part is at the model, out of the backlog
    await wired.queue.put([item("bulk-0", 2, queries=3, offset=1, marker="edit")])
    assert wired.version("bulk-0") == 2

    wired.embedder.gate.set()
    await wired.drained()
    assert wired.version("bulk-0") == 2
    assert sorted(wired.acked) == [0, 1]


async def test_the_agent_takes_no_more_batches_while_the_backlog_is_full() -> None:
    wired = Wired(backlog_texts=PART * 2)
    putting = asyncio.ensure_future(wired.queue.put(bulk(3)))
    await asyncio.sleep(0.1)
    assert not putting.done()  # the stream, and so the fetches, wait

    wired.embedder.gate.set()
    await asyncio.wait_for(putting, 5)
    await wired.drained()
    assert len(wired.rows) == 3


async def test_work_of_a_partition_this_worker_no_longer_owns_is_dropped_unacked() -> None:
    owned = {"yes": True}
    wired = Wired(owned=lambda event: owned["yes"])
    await wired.queue.put(bulk(3))
    await asyncio.sleep(0.05)
    owned["yes"] = False  # revoked while the first part was at the model
    wired.embedder.gate.set()
    await wired.drained()
    assert sorted(wired.rows) == ["bulk-0"]  # the part already at the model is written; its new owner redoes it
    assert wired.acked == [0]


async def test_a_backlog_part_that_keeps_failing_stops_the_agent() -> None:
    wired = Wired()
    wired.embedder.failing = {"fake-model"}

    async def broken() -> bool:
        return False  # the canary fails too: the system's failure, not the event's

    wired.embedder.healthy = broken  # type: ignore[method-assign]
    await wired.queue.put(bulk(1))
    wired.embedder.gate.set()
    await asyncio.sleep(0.05)
    with pytest.raises(RuntimeError, match="content backlog failed"):
        await wired.queue.put([item("x", 1, queries=1, offset=9, marker="edit")])
    assert wired.acked == []
    await wired.queue.close()
