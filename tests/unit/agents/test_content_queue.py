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
    """Embeds the bulk import's items (their texts start with "bulk") only once the gate opens."""

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
        self.crashed: list[BaseException] = []
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
            handler,
            part_texts=PART,
            backlog_texts=backlog_texts,
            ack=self.ack,
            retry=once,
            owned=owned,
            crash=self.crash,
        )

    async def crash(self, exc: BaseException) -> None:
        self.crashed.append(exc)

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


async def test_an_edit_and_a_delete_sent_behind_a_bulk_import_go_ahead_of_it() -> None:
    wired = Wired()
    await wired.queue.put(bulk(4))  # bulk-3, the newest, goes to the model first; the rest waits
    await asyncio.sleep(0.05)
    edits = [item(f"edit-{c}", 2, queries=PART + 10, offset=4 + i, marker="edit") for i, c in enumerate("ab")]
    await wired.queue.put([*edits, delete("bulk-0", 2, offset=6)])  # the CMS withdraws an item still waiting
    assert wired.acked == [0]  # the withdrawn upsert's; the rest stays unacked until written: a crash reads it again

    wired.embedder.gate.set()
    await wired.drained()
    firsts = [call[0].split(".")[0] for call in wired.embedder.calls]
    assert firsts == ["bulk bulk-3", "edit edit-b", "edit edit-a", "bulk bulk-2", "bulk bulk-1"]
    assert sorted(wired.rows) == ["bulk-1", "bulk-2", "bulk-3", "edit-a", "edit-b"]
    assert sorted(wired.acked) == list(range(7))


async def test_model_work_comes_in_parts_of_at_most_the_part_size_unless_one_item_is_larger() -> None:
    wired = Wired()
    wired.embedder.gate.set()
    small = [item(f"s{i}", 1, queries=29, offset=i, marker="small") for i in range(10)]  # 30 texts each
    await wired.queue.put([*small, *bulk(2, first_offset=10)])
    await wired.drained()
    assert wired.embedder.sizes == [PART + 21, PART + 21, 90, 90, 90, 30]
    assert len(wired.rows) == 12 and sorted(wired.acked) == list(range(12))


async def test_a_delete_of_an_item_at_the_model_keeps_it_out_of_the_index() -> None:
    wired = Wired()
    await wired.queue.put(bulk(1))
    await asyncio.sleep(0.05)  # its part is at the model, out of the queue
    await wired.queue.put([delete("bulk-0", 2, offset=1)])
    wired.embedder.gate.set()
    await wired.drained()
    assert wired.rows == {}
    assert sorted(wired.acked) == [0, 1]


async def test_a_part_that_finishes_after_a_newer_version_was_queued_leaves_the_newer_one() -> None:
    wired = Wired()
    await wired.queue.put(bulk(1))
    await asyncio.sleep(0.05)
    await wired.queue.put([item("bulk-0", 2, queries=3, offset=1, marker="edit")])
    wired.embedder.gate.set()
    await wired.drained()
    assert wired.version("bulk-0") == 2
    assert sorted(wired.acked) == [0, 1]


async def test_the_agent_takes_no_more_batches_while_the_queue_is_full() -> None:
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
    owned["yes"] = False  # revoked while bulk-2 was at the model
    wired.embedder.gate.set()
    await wired.drained()
    assert sorted(wired.rows) == ["bulk-2"]  # it was at the model already; its new owner redoes the rest
    assert wired.acked == [2]


async def test_a_part_that_keeps_failing_crashes_the_worker_and_stops_the_agent() -> None:
    wired = Wired()
    wired.embedder.poison = "bulk query 0"

    async def broken() -> bool:
        return False  # the canary fails too: the system's failure, not the event's

    wired.embedder.healthy = broken  # type: ignore[method-assign]
    wired.embedder.gate.set()
    await wired.queue.put([*bulk(1), item("x", 1, queries=1, offset=1, marker="edit")])
    await asyncio.sleep(0.05)
    assert len(wired.crashed) == 1
    with pytest.raises(RuntimeError, match="content backlog failed"):
        await wired.queue.put([item("y", 1, queries=1, offset=9, marker="edit")])
    assert wired.acked == [1]  # x, the newest, was written first
    await wired.queue.close()
