"""The replicated content-vectors table; every worker's FAISS index follows it row by row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust

from streams.topology.topics import CONTENT_PARTITIONS, CONTENT_TABLE

RowListener = Callable[[str, "bytes | None"], None]


class ContentVectorsTable(faust.GlobalTable):
    """A GlobalTable whose values are raw bytes (an encoded `ContentEntry`) and whose rows feed a listener.

    Own writes arrive through `on_key_set` / `on_key_del`; recovery and other workers' writes through
    `on_changelog_event`. Values bypass Faust's JSON serializer, which would mangle the vector bytes.
    """

    def __init__(self, app: faust.App, *, listener: RowListener, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.value_serializer = "raw"
        self._listener = listener

    def on_key_set(self, key: str, value: bytes) -> None:
        super().on_key_set(key, value)
        self._listener(key, value)

    def on_key_del(self, key: str) -> None:
        super().on_key_del(key)
        self._listener(key, None)

    async def on_changelog_event(self, event: faust.EventT) -> None:
        await super().on_changelog_event(event)
        key = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
        self._listener(key, event.value)


def content_vectors_table(app: faust.App, listener: RowListener) -> ContentVectorsTable:
    # One partition with the producer's partitioner: rows are written from micro-batches, outside Faust's
    # per-event context (MEASURED.md), and a replicated table has no use for more partitions.
    table = ContentVectorsTable(
        app,
        listener=listener,
        beacon=app.tables.beacon,
        is_global=True,
        synchronize_all_active_partitions=True,
        name=CONTENT_TABLE,
        key_type=str,
        value_type=bytes,
        partitions=CONTENT_PARTITIONS,
        use_partitioner=True,
        recovery_buffer_size=1,
        standby_buffer_size=1,
        help="content_id → ContentEntry (metadata and vectors) of every content item",
    )
    app.tables.add(table)
    return table
