"""Consumes `content.updated`: re-embeds only what changed and writes the item to the content-vectors table."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import faust
import numpy as np
from pydantic import ValidationError

from agents.dead_letters import DeadLetters
from agents.delivery import Take, register_batch_agent
from agents.isolation import run_isolated
from agents.ports import INDEXED, UNCHANGED, AgentMetrics, Embedder, Rows
from index.embedding_cache import text_hash
from index.encoder import Vectors
from schemas import ContentEntry, ContentUpdated, encode
from schemas.content_entry import PREVIEW_CHARS, ModelVectors

logger = logging.getLogger(__name__)

Superseded = Callable[[ContentUpdated], bool]

OTHERS_WAIT_S = 2.0  # how long an edit waits for the registry's other models before it is written without them


@dataclass(frozen=True)
class ContentWork:
    """An item's newest event of a batch that changes the index, and the texts it costs the model (0: a delete)."""

    event: faust.EventT
    update: ContentUpdated

    @property
    def texts(self) -> int:
        return len(self.update.texts()) if self.update.op == "upsert" else 0

    @property
    def content_id(self) -> str:
        return self.update.content_id


class ContentHandler:
    """`content.updated` events in, one table row per item that changed out, in two steps: `plan` a batch (what
    changes), then `apply` its work in parts (`agents.content_queue` orders them; `__call__` does both at once).

    Within a batch only the newest event of each item counts; an event no newer than the row the table holds
    is counted as unchanged and costs no encoder call, unless that row lacks the texts or a loaded model's
    vectors. The same check runs again just before the model and just before the write, so work that waited
    while a newer version of its item was written is dropped, never written over it. Each row is embedded by
    every model loaded here (the active one first: its failure is the event's); a model that fails or is still
    loading leaves its vectors to the backfill.
    """

    def __init__(
        self,
        *,
        topic: str,
        embedder: Embedder,
        rows: Rows,
        dead_letters: DeadLetters,
        metrics: AgentMetrics,
    ) -> None:
        self._topic = topic
        self._embedder = embedder
        self._rows = rows
        self._dead_letters = dead_letters
        self._metrics = metrics

    async def __call__(self, batch: Sequence[faust.EventT]) -> None:
        await self.apply(await self.plan(batch))

    async def plan(self, batch: Sequence[faust.EventT]) -> list[ContentWork]:
        """The batch's work, one per item it changes; its malformed events are dead-lettered once this returns,
        and the rest (older versions, unchanged rows) need nothing more."""
        decoded = await self._dead_letters.decode(ContentUpdated, batch)
        latest: dict[str, ContentWork] = {}
        for event, update in zip(decoded.events, decoded.records, strict=True):
            pending = latest.get(update.content_id)
            if pending is not None:
                newer = update.version > pending.update.version
            else:
                # A delete of an item the table does not hold yet is kept: a queued upsert of it may still be written.
                newer = update.op == "delete" or self._is_news(update)
            if newer:
                latest[update.content_id] = ContentWork(event, update)
        self._metrics.handled(self._topic, UNCHANGED, len(decoded.records) - len(latest))
        await asyncio.gather(*decoded.dead_letters)
        return list(latest.values())

    async def apply(self, work: Sequence[ContentWork], superseded: Superseded = lambda update: False) -> None:
        """Embeds and writes the work that still changes the index and is not `superseded` (a newer version of its
        item is on its way); an item the model cannot embed is dead-lettered once this returns."""

        def current(update: ContentUpdated) -> bool:
            return self._is_news(update) and not superseded(update)

        current_work = [w for w in work if current(w.update)]
        self._metrics.handled(self._topic, UNCHANGED, len(work) - len(current_work))
        upserts = [w for w in current_work if w.update.op == "upsert"]
        embedded = await run_isolated(
            [w.event for w in upserts],
            [w.update for w in upserts],
            self._embed,
            healthy=self._embedder.healthy,
            dead_letters=self._dead_letters,
            what="embedding",
        )
        rows = {u.content_id: vectors for _, u, vectors in embedded.done}
        written = overtaken = 0
        for w in current_work:
            update = w.update
            if update.op == "delete" or update.content_id in rows:
                # Checked again with no await before the write: a newer version written meanwhile stays.
                if not current(update):
                    overtaken += 1
                    continue
                entry = self._entry(update, rows.get(update.content_id, {}))
                self._rows[update.content_id] = encode(self._keep_vectors(entry))
                written += 1
                logger.info("content %s v%s: %s", update.content_id, update.version, update.op)
        self._metrics.handled(self._topic, UNCHANGED, overtaken)
        self._metrics.handled(self._topic, INDEXED, written)
        await asyncio.gather(*embedded.dead_letters)

    async def _embed(self, updates: list[ContentUpdated]) -> list[dict[str, Vectors]]:
        """All texts of all updates in one call per model, split back per update."""
        texts = [text for u in updates for text in u.texts()]
        bounds = np.cumsum([0, *(len(u.texts()) for u in updates)])
        out: list[dict[str, Vectors]] = [{} for _ in updates]
        for i, model_id in enumerate(self._embedder.content_models()):
            if i == 0:
                # The active model's failure is the batch's: it is isolated, the event may be bad.
                vectors = await self._embedder.embed_content(texts, model_id)
            else:
                try:
                    # Other models wait while the active one is busy: under load the edit must not wait for them.
                    vectors = await asyncio.wait_for(self._embedder.embed_content(texts, model_id), OTHERS_WAIT_S)
                except Exception as exc:
                    logger.warning("%s did not embed %s items (%r): the backfill will", model_id, len(updates), exc)
                    continue
            for row, (start, end) in zip(out, itertools.pairwise(bounds), strict=True):
                row[model_id] = vectors[start:end]
        return out

    def _is_news(self, update: ContentUpdated) -> bool:
        """An event changes the index unless the table holds this version or a newer one (with the texts and
        every loaded model's vectors), or a tombstone of this version or a newer one."""
        raw = self._rows.get(update.content_id)
        stored = None if raw is None else _entry_or_none(update.content_id, raw)
        if stored is None:
            return update.op == "upsert"
        if update.version > stored.version:
            return True
        # The same version again re-embeds only a live row that lacks something: a tombstone stays deleted.
        return (
            update.version == stored.version
            and update.op == "upsert"
            and not stored.deleted
            and (not stored.texts or any(m not in stored.vectors for m in self._embedder.content_models()))
        )

    def _keep_vectors(self, entry: ContentEntry) -> ContentEntry:
        """The registry's other models' vectors of the same texts, from the row as the table holds it now (a
        backfill may have added some while this batch embedded): a worker never drops another model's."""
        raw = self._rows.get(entry.content_id)
        stored = None if raw is None or entry.deleted else _entry_or_none(entry.content_id, raw)
        if stored is None or stored.deleted or stored.text_hashes != entry.text_hashes:
            return entry
        kept = {
            model_id: vectors
            for model_id, vectors in stored.vectors.items()
            if model_id in self._embedder.kept_models() and model_id not in entry.vectors
        }
        return entry.model_copy(update={"vectors": {**entry.vectors, **kept}}) if kept else entry

    def _entry(self, update: ContentUpdated, vectors: dict[str, Vectors]) -> ContentEntry:
        if update.op == "delete":
            # A tombstone with its version, so a late older upsert cannot resurrect the item.
            return ContentEntry(content_id=update.content_id, version=update.version, deleted=True)
        if not vectors:
            raise ValueError(f"upsert of {update.content_id} without vectors")
        return ContentEntry(
            content_id=update.content_id,
            version=update.version,
            kind=update.kind,
            title=update.title,
            preview=_preview(update.body or ""),
            texts=update.texts(),
            text_hashes=[text_hash(t) for t in update.texts()],
            vectors={model_id: ModelVectors.of(rows) for model_id, rows in vectors.items()},
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
    app: faust.App, topic: faust.TopicT, handle: ContentHandler, *, max_batch: int, take: Take
) -> None:
    # One batch at a time: each batch's version checks read the table rows the previous batch wrote.
    # Table writes are flushed by Faust before it commits the acked offsets.
    register_batch_agent(app, topic, "content_updated", handle, max_batch=max_batch, take=take)
