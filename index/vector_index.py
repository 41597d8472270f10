"""FAISS inner-product index holding several vectors per content item, searched as distinct items.

Each kind's vectors fill fixed-size shards one after the other: a FAISS flat index keeps its vectors in one
growing array, and every time that array grows it briefly holds the old and the new copy, so a single index
of 100k vectors peaked ~130 MB above its size during recovery. With shards only the last one grows.

Not thread-safe: every call runs on the single index thread (see `index.executor`).
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from index.encoder import Vectors

SHARD_VECTORS = 16_384  # 24 MB of float32 rows at 384 dimensions
BLAS_FROM_QUERIES = 4
BLAS_ALWAYS = 1
BLAS_NEVER = 1 << 30


@dataclass(frozen=True, slots=True)
class Hit:
    content_id: str
    kind: str
    title: str
    score: float


@dataclass(slots=True)
class _Item:
    kind: str
    title: str
    ids: np.ndarray  # int64 FAISS ids of this item's vectors
    shard: faiss.IndexIDMap2  # the shard holding all of them


class VectorIndex:
    """One exact (Flat, inner product) FAISS index per kind; an item is as close as its closest vector."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._by_kind: dict[str, list[faiss.IndexIDMap2]] = {}
        self._items: dict[str, _Item] = {}
        self._owner: dict[int, str] = {}
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, content_id: object) -> bool:
        return content_id in self._items

    @property
    def vector_count(self) -> int:
        return len(self._owner)

    def upsert(self, content_id: str, kind: str, title: str, vectors: Vectors) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension or len(vectors) == 0:
            raise ValueError(f"{content_id}: expected (n>0, {self.dimension}) vectors, got {vectors.shape}")
        self.delete(content_id)
        ids = np.arange(self._next_id, self._next_id + len(vectors), dtype=np.int64)
        self._next_id += len(vectors)
        shard = self._shard_with_room(kind)
        shard.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self._items[content_id] = _Item(kind, title, ids, shard)
        self._owner.update(dict.fromkeys(ids.tolist(), content_id))

    def delete(self, content_id: str) -> bool:
        item = self._items.pop(content_id, None)
        if item is None:
            return False
        item.shard.remove_ids(faiss.IDSelectorBatch(item.ids))
        for vector_id in item.ids.tolist():
            del self._owner[vector_id]
        return True

    def search(self, queries: Vectors, k: int, kind: str) -> list[list[Hit]]:
        """For each query row, up to `k` distinct items of `kind`, best first."""
        shards = [shard for shard in self._by_kind.get(kind, []) if shard.ntotal]
        total = sum(shard.ntotal for shard in shards)
        if total == 0:
            return [[] for _ in range(len(queries))]
        # Items hold many vectors (an example query each): fetch enough rows for k distinct items in one pass.
        fetch = min(total, max(32 * k, 128))
        # faiss chooses BLAS by one global threshold, and its default kept a 32-query batch on the per-query
        # kernel (5x slower), while BLAS made a lone query 2.5x slower. Measured here on 9k vectors: equal at 3
        # queries, BLAS 1.5x faster at 4 and 2.4x at 8.
        faiss.cvar.distance_compute_blas_threshold = BLAS_ALWAYS if len(queries) >= BLAS_FROM_QUERIES else BLAS_NEVER
        while True:
            scores, ids = _search_shards(shards, np.ascontiguousarray(queries, dtype=np.float32), fetch)
            results = [self._distinct(row_scores, row_ids, k) for row_scores, row_ids in zip(scores, ids, strict=True)]
            if fetch == total or all(len(hits) == k for hits in results):
                return results
            fetch = min(total, fetch * 4)

    def _distinct(self, scores: np.ndarray, ids: np.ndarray, k: int) -> list[Hit]:
        hits: list[Hit] = []
        seen: set[str] = set()
        for score, vector_id in zip(scores.tolist(), ids.tolist(), strict=True):
            if vector_id < 0:
                break
            content_id = self._owner[vector_id]
            if content_id in seen:
                continue
            seen.add(content_id)
            item = self._items[content_id]
            hits.append(Hit(content_id, item.kind, item.title, float(score)))
            if len(hits) == k:
                break
        return hits

    def _shard_with_room(self, kind: str) -> faiss.IndexIDMap2:
        shards = self._by_kind.setdefault(kind, [])
        if not shards or shards[-1].ntotal >= SHARD_VECTORS:
            shards.append(faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension)))
        return shards[-1]


def _search_shards(shards: list[faiss.IndexIDMap2], queries: Vectors, fetch: int) -> tuple[np.ndarray, np.ndarray]:
    """The `fetch` best rows over all shards, best first (rows past a shard's size come back as id -1)."""
    found = [shard.search(queries, min(fetch, shard.ntotal)) for shard in shards]
    if len(found) == 1:
        return found[0]
    scores = np.hstack([s for s, _ in found])
    ids = np.hstack([i for _, i in found])
    best = np.argsort(-scores, axis=1, kind="stable")[:, :fetch]
    return np.take_along_axis(scores, best, axis=1), np.take_along_axis(ids, best, axis=1)
