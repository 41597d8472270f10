"""Consumes `content.updated`: re-embeds only what changed and writes the item to the content-vectors table."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence

import faust
import numpy as np
from pydantic import ValidationError

from agents.dead_letters import DeadLetters
from agents.delivery import run_batches
from agents.isolation import run_isolated
from agents.ports import INDEXED, UNCHANGED, AgentMetrics, Embedder, Rows
from index.embedding_cache import text_hash
from index.encoder import Vectors
from schemas import ContentEntry, ContentUpdated, encode
from schemas.content_entry import PREVIEW_CHARS

logger = logging.getLogger(__name__)


class ContentHandler:
    """One batch of `content.updated` events in, one table row per item that changed out.

    Within a batch only the newest event of each item counts; an event no newer than the row the table holds
    (from this model) is counted as unchanged and costs no encoder call.
    """

    def __init__(
        self,
        *,
        topic: str,
        embedder: Embedder,
        rows: Rows,
        dead_letters: DeadLetters,
        metrics: AgentMetrics,
        model_id: str,
    ) -> None:
        self._topic = topic
        self._embedder = embedder
        self._rows = rows
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._model_id = model_id

    async def __call__(self, batch: Sequence[faust.EventT]) -> None:
        decoded = await self._dead_letters.decode(ContentUpdated, batch)
        latest: dict[str, tuple[faust.EventT, ContentUpdated]] = {}
        for event, update in zip(decoded.events, decoded.records, strict=True):
            pending = latest.get(update.content_id)
            if (update.version > pending[1].version) if pending is not None else self._is_news(update):
                latest[update.content_id] = (event, update)
        self._metrics.handled(self._topic, UNCHANGED, len(decoded.records) - len(latest))
        upserts = [(event, u) for event, u in latest.values() if u.op == "upsert"]
        embedded = await run_isolated(
            [event for event, _ in upserts],
            [u for _, u in upserts],
            self._embed,
            healthy=self._embedder.healthy,
            dead_letters=self._dead_letters,
            what="embedding",
        )
        rows = {u.content_id: vectors for _, u, vectors in embedded.done}
        written = 0
        for _, update in latest.values():
            if update.op == "delete" or update.content_id in rows:
                self._rows[update.content_id] = encode(self._entry(update, rows.get(update.content_id)))
                written += 1
                logger.info("content %s v%s: %s", update.content_id, update.version, update.op)
        self._metrics.handled(self._topic, INDEXED, written)
        await asyncio.gather(*decoded.dead_letters, *embedded.dead_letters)

    async def _embed(self, updates: list[ContentUpdated]) -> list[Vectors]:
        """All texts of all updates in one call, split back per update."""
        texts = [text for u in updates for text in u.texts()]
        vectors = await self._embedder.embed_content(texts)
        bounds = np.cumsum([0, *(len(u.texts()) for u in updates)])
        return [vectors[start:end] for start, end in itertools.pairwise(bounds)]

    def _is_news(self, update: ContentUpdated) -> bool:
        """An event changes the index unless the table holds this version or a newer one, from this model, or a
        tombstone of this version or a newer one."""
        raw = self._rows.get(update.content_id)
        stored = None if raw is None else _entry_or_none(update.content_id, raw)
        if stored is None:
            return update.op == "upsert"
        if update.version > stored.version:
            return True
        # The same version again re-embeds only a live row another model wrote: a tombstone stays deleted.
        return (
            update.version == stored.version
            and update.op == "upsert"
            and not stored.deleted
            and stored.model != self._model_id
        )

    def _entry(self, update: ContentUpdated, rows: Vectors | None) -> ContentEntry:
        if update.op == "delete":
            # A tombstone with its version, so a late older upsert cannot resurrect the item.
            return ContentEntry(
                content_id=update.content_id, version=update.version, model=self._model_id, deleted=True
            )
        if rows is None:
            raise ValueError(f"upsert of {update.content_id} without vectors")
        return ContentEntry(
            content_id=update.content_id,
            version=update.version,
            model=self._model_id,
            kind=update.kind,
            title=update.title,
            preview=_preview(update.body or ""),
            text_hashes=[text_hash(t) for t in update.texts()],
            vectors=np.ascontiguousarray(rows, dtype=np.float16).tobytes(),
        )


def _entry_or_none(content_id: str, raw: bytes) -> ContentEntry | None:
    """The stored row, or None (as if absent) when it cannot be read: one bad row must not stall the topic."""
    try:
        return ContentEntry.model_validate_json(raw)
    except ValidationError as exc:
        logger.warning("the table row of %s cannot be read (%s): the event replaces it", content_id, exc.errors()[0])
        return None


def _preview(body: str) -> str:
    return body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1].rstrip() + "…"


def register_content_agent(
    app: faust.App, topic: faust.TopicT, handle: ContentHandler, *, max_batch: int, within_s: float
) -> None:
    async def content_updated(stream: faust.StreamT) -> None:
        # One batch at a time: each batch's version checks read the table rows the previous batch wrote.
        # Table writes are flushed by Faust before it commits the acked offsets.
        await run_batches(app, stream, handle, max_batch=max_batch, within_s=within_s)

    app.agent(topic, name="content_updated")(content_updated)
