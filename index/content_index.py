"""One model's searchable view of the content-vectors table: applies table rows to its FAISS index in version order."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from index.encoder import Vectors
from index.vector_index import Hit, VectorIndex
from schemas import ContentEntry, IndexWatermark


class ContentIndex:
    """Follows table rows (own writes, other workers' writes, recovery) with zero encoder calls.

    A row older than the version already applied is ignored, so replays and duplicates are harmless. The index
    holds an item exactly when its current row carries this model's vectors: a row that does not (yet) is
    counted as uncovered (`missing`), never served with vectors of an older version.

    Not thread-safe: `apply` and `missing` run on the index thread; `watermark` and `textless` are replaced
    whole at the end of each row, so a reader on another thread sees one state or the next.

    `memory` is the model's usage memory (`index.usage_memory`): an item it names is held with those vectors
    beside its texts' for as long as the item is live.
    """

    def __init__(self, model_id: str, dimension: int, memory: Mapping[str, Vectors] | None = None) -> None:
        self.model_id = model_id
        self.vectors = VectorIndex(dimension)
        self._memory = memory or {}
        self._versions: dict[str, int] = {}
        self._live: set[str] = set()
        self._missing: set[str] = set()  # live, with stored texts, not in the index: what a backfill can fill
        self._textless: set[str] = set()  # live, no stored texts, not in the index: only the CMS can fill
        self._held: dict[str, tuple[int, int]] = {}  # content id → (version, hash of its vectors) in the index
        self.applied = 0
        self.textless = 0
        self._mark = IndexWatermark(items=0, table_items=0, changes=0, last_change=None)

    def __len__(self) -> int:
        return len(self.vectors)

    def missing(self, limit: int) -> list[str]:
        """Up to `limit` live items this model has no vectors of and the table holds the texts of."""
        return list(itertools.islice(self._missing, limit))

    def watermark(self) -> IndexWatermark:
        return self._mark

    def to_fill(self) -> int:
        """Live items with stored texts that this index lacks: what a backfill has left to do."""
        mark = self._mark
        return max(0, mark.table_items - mark.items - self.textless)

    def apply(self, content_id: str, entry: ContentEntry | None) -> None:
        """`entry` is the row's new value, None when the key was deleted from the table."""
        if entry is not None and entry.version < self._versions.get(content_id, -1):
            return
        if entry is None or entry.deleted:
            self._drop(content_id)
            self._live.discard(content_id)
            if entry is None:
                self._versions.pop(content_id, None)
        else:
            self._live.add(content_id)
            self._index(content_id, entry)
        if entry is not None:
            self._versions[content_id] = entry.version
        self.applied += 1
        self.textless = len(self._textless)
        self._mark = IndexWatermark(
            items=len(self.vectors),
            table_items=len(self._live),
            changes=self.applied,
            last_change=content_id if entry is None else f"{content_id}@{entry.version}",
        )

    def _index(self, content_id: str, entry: ContentEntry) -> None:
        stored = entry.vectors.get(self.model_id)
        rows = None
        if stored is not None:
            try:
                rows = entry.rows_of(self.model_id)
            except ValueError:
                rows = None  # unreadable: as if absent, so a backfill writes them again
        if rows is None or rows.shape[1] != self.vectors.dimension:
            self._drop(content_id)
            (self._missing if entry.texts else self._textless).add(content_id)
            return
        self._missing.discard(content_id)
        self._textless.discard(content_id)
        held = (entry.version, hash(stored.data)) if stored is not None else None
        if held is not None and held != self._held.get(content_id):
            # Not when only another model's vectors changed (a backfill's row): this model's stay as they are.
            learned = self._memory.get(content_id)
            if learned is not None:
                rows = np.vstack([rows, learned])
            self.vectors.upsert(content_id, entry.kind or "help_article", entry.title or content_id, rows)
            self._held[content_id] = held

    def _drop(self, content_id: str) -> None:
        self.vectors.delete(content_id)
        self._held.pop(content_id, None)
        self._missing.discard(content_id)
        self._textless.discard(content_id)

    def search(self, queries: np.ndarray, k: int, kind: str) -> list[list[Hit]]:
        return self.vectors.search(queries, k, kind)
