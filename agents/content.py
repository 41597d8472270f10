"""Consumes `content.updated`: re-embeds only what changed and writes the item to the content-vectors table."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

import faust
import numpy as np

from agents.delivery import run_batches
from index.embedding_cache import text_hash
from schemas import ContentEntry, ContentUpdated, InvalidEvent, decode, encode
from streams.app import app, content_vectors, metrics, runtime, settings, topics
from streams.dead_letters import send_dead_letter

logger = logging.getLogger(__name__)


def _stored(content_id: str) -> ContentEntry | None:
    raw = content_vectors.get(content_id)
    return None if raw is None else ContentEntry.model_validate_json(raw)


def _is_news(update: ContentUpdated, stored: ContentEntry | None) -> bool:
    """An event changes the index unless the table holds this version or a newer one, from this model."""
    if stored is None:
        return update.op == "upsert"
    if update.version > stored.version:
        return True
    return update.version == stored.version and update.op == "upsert" and stored.model != runtime.index.model_id


async def sync(batch: Sequence[faust.EventT]) -> None:
    metrics.events_in.labels(settings.topic_content).inc(len(batch))
    dead: list[Awaitable[Any]] = []
    latest: dict[str, ContentUpdated] = {}
    for event in batch:
        try:
            update = decode(ContentUpdated, event.message.value)
        except InvalidEvent as exc:
            dead.append(await send_dead_letter(topics.dead_letter, metrics, event, str(exc)))
            continue
        pending = latest.get(update.content_id)
        if (update.version > pending.version) if pending is not None else _is_news(update, _stored(update.content_id)):
            latest[update.content_id] = update
        else:
            metrics.stale_content.inc()
    upserts = [u for u in latest.values() if u.op == "upsert"]
    texts = [text for u in upserts for text in u.texts()]
    vectors = await (await runtime.embedder()).embed(texts) if texts else np.zeros((0, 0), np.float32)
    offset = 0
    for update in latest.values():
        if update.op == "delete":
            entry = ContentEntry(
                content_id=update.content_id,
                version=update.version,
                model=runtime.index.model_id,
                deleted=True,
            )
        else:
            item_texts = update.texts()
            rows = vectors[offset : offset + len(item_texts)]
            offset += len(item_texts)
            entry = ContentEntry(
                content_id=update.content_id,
                version=update.version,
                model=runtime.index.model_id,
                kind=update.kind,
                title=update.title,
                text_hashes=[text_hash(t) for t in item_texts],
                vectors=np.ascontiguousarray(rows, dtype=np.float16).tobytes(),
            )
        content_vectors[update.content_id] = encode(entry)
        logger.info("content %s v%s: %s", update.content_id, update.version, update.op)
    await asyncio.gather(*dead)


@app.agent(topics.content)
async def content_updated(stream: faust.StreamT) -> None:
    # One batch at a time: each batch's version checks read the table rows the previous batch wrote.
    # Table writes are flushed by Faust before it commits the acked offsets.
    await run_batches(app, stream, sync, max_batch=settings.batch_max, within_s=settings.batch_wait_ms / 1000)
