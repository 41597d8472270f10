"""The backfill: on the one worker that owns the content partition, a model that lacks an item's vectors embeds
the item's stored texts and adds them to its row; a retired model's vectors are dropped from every row.

Only the owner writes, so each text is embedded once per model for the whole group (the embedding cache in
Redis covers an owner that changes midway); every worker's indexes follow the rows as they change. It goes one
item at a time on the content lane, and a candidate's batcher defers to the active one, so chats and searches
come first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, MutableMapping

from mode import Service
from pydantic import ValidationError

from schemas import ContentEntry, encode
from schemas.content_entry import ModelVectors
from schemas.registry import Registry
from streams.engine.models import ModelSet

logger = logging.getLogger(__name__)

IDLE_S = 0.5
ITEMS_PER_STEP = 8  # one model call each; the step then looks at the registry and the other models again
PROGRESS_EVERY_S = 5.0
DROP_SLICE = 64  # rows parsed between two turns of the event loop


def _entry(raw: bytes | None) -> ContentEntry | None:
    try:
        return None if raw is None else ContentEntry.model_validate_json(raw)
    except ValidationError:
        return None


class Backfill(Service):
    def __init__(
        self,
        models: ModelSet,
        table: MutableMapping[str, bytes],
        rows: Callable[[], Iterable[tuple[str, bytes]]],
        *,
        owns_content: Callable[[], bool],
        registry: Callable[[], Registry],
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._models = models
        self._table = table
        self._rows = rows
        self._owns_content = owns_content
        self._registry = registry
        self.filled: Counter[str] = Counter()
        self._dropped: set[str] = set()
        self._last_progress = 0.0

    @Service.task
    async def _run(self) -> None:
        while not self.should_stop:
            worked = False
            try:
                if self._owns_content():
                    worked = await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("backfill step failed; trying again")
            if not worked:
                await self.sleep(IDLE_S)

    async def _step(self) -> bool:
        """A few items per loaded model that lacks some, and one pass of dropping newly retired vectors."""
        await self._models.synced()
        worked = False
        for model_id in self._models.loaded_ids():
            missing = await self._models.missing(model_id, ITEMS_PER_STEP)
            for content_id in missing:
                worked |= await self._fill(model_id, content_id)
            if missing:
                self._progress(model_id)
        self._dropped &= set(self._registry().retired)  # a model added again after it was retired
        retired = set(self._registry().retired) - self._dropped
        if retired and await self._drop(retired):
            self._dropped |= retired
        return worked

    async def _fill(self, model_id: str, content_id: str) -> bool:
        serving = self._models.serving(model_id)
        entry = _entry(self._table.get(content_id))
        # The index says what is missing, not the row: vectors a row holds but the index cannot read are rewritten.
        if serving is None or entry is None or entry.deleted or not entry.texts:
            return False
        vectors = await serving.embed_content(list(entry.texts))
        now = _entry(self._table.get(content_id))  # an edit may have landed while the texts were embedded
        if now is None or now.deleted or now.version != entry.version or now.text_hashes != entry.text_hashes:
            return True
        if not self._owns_content():
            return False  # the partition moved while this embedded: the new owner writes it
        self._table[content_id] = encode(
            now.model_copy(update={"vectors": {**now.vectors, model_id: ModelVectors.of(vectors)}})
        )
        self.filled[model_id] += 1
        return True

    def _progress(self, model_id: str) -> None:
        index = self._models.index(model_id)
        if index is None:
            return
        left = index.to_fill()
        if left == 0 or time.monotonic() - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = time.monotonic()
            logger.info("backfill of %s: %s items filled, %s to go", model_id, self.filled[model_id], left)

    async def _drop(self, retired: set[str]) -> bool:
        """Every row is read once: in slices, giving the event loop back between them. False when the content
        partition moved away midway (its new owner drops the rest)."""
        dropped = 0
        for seen, content_id in enumerate([key for key, _ in self._rows()], 1):
            if seen % DROP_SLICE == 0:
                await asyncio.sleep(0)
                if not self._owns_content():
                    return False
            entry = _entry(self._table.get(content_id))  # as it is now: an edit may have landed meanwhile
            if entry is not None and retired & entry.vectors.keys():
                kept = {m: v for m, v in entry.vectors.items() if m not in retired}
                self._table[content_id] = encode(entry.model_copy(update={"vectors": kept}))
                dropped += 1
        logger.info("dropped the vectors of retired %s from %s rows", ", ".join(sorted(retired)), dropped)
        return True
