"""The searchable view of the content-vectors table: applies table rows to the FAISS index in version order."""

from __future__ import annotations

import logging

import numpy as np

from index.vector_index import Hit, VectorIndex
from schemas import ContentEntry

logger = logging.getLogger(__name__)


class ContentIndex:
    """Follows table rows (own writes, other workers' writes, recovery) with zero encoder calls.

    A row older than the version already applied is ignored, so replays and duplicates are harmless;
    rows embedded by another model are refused, so vectors of different models never mix.
    """

    def __init__(self, model_id: str, dimension: int) -> None:
        self.model_id = model_id
        self.vectors = VectorIndex(dimension)
        self._versions: dict[str, int] = {}
        self.applied = 0

    def __len__(self) -> int:
        return len(self.vectors)

    def apply(self, content_id: str, raw: bytes | None) -> None:
        if raw is None:
            self.vectors.delete(content_id)
            self._versions.pop(content_id, None)
            return
        entry = ContentEntry.model_validate_json(raw)
        if entry.version < self._versions.get(content_id, -1):
            return
        if entry.deleted:
            self.vectors.delete(content_id)
        elif entry.model != self.model_id:
            logger.warning("ignoring %s: embedded by %s, this index holds %s", content_id, entry.model, self.model_id)
            return
        else:
            rows = np.frombuffer(entry.vectors, dtype=entry.dtype).reshape(len(entry.text_hashes), -1)
            self.vectors.upsert(
                content_id, entry.kind or "help_article", entry.title or content_id, rows.astype(np.float32)
            )
        self._versions[content_id] = entry.version
        self.applied += 1

    def search(self, queries: np.ndarray, k: int, kind: str) -> list[list[Hit]]:
        return self.vectors.search(queries, k, kind)
