"""Embeds content texts through the embedding cache first and the micro-batcher (content lane) for the misses."""

from __future__ import annotations

import numpy as np

from index.batcher import Lane, MicroBatcher
from index.embedding_cache import EmbeddingCache
from index.encoder import Vectors


class CachedEmbedder:
    def __init__(self, batcher: MicroBatcher, cache: EmbeddingCache) -> None:
        self._batcher = batcher
        self._cache = cache
        self.hits = 0
        self.misses = 0

    async def embed(self, texts: list[str]) -> Vectors:
        cached = await self._cache.lookup(texts)
        missing = sorted({text for text, vector in zip(texts, cached, strict=True) if vector is None})
        self.hits += len(texts) - sum(vector is None for vector in cached)
        self.misses += len(missing)
        fresh: dict[str, np.ndarray] = {}
        if missing:
            vectors = await self._batcher.embed(missing, Lane.CONTENT)
            await self._cache.store(missing, vectors)
            fresh = dict(zip(missing, vectors, strict=True))
        rows = [vector if vector is not None else fresh[text] for text, vector in zip(texts, cached, strict=True)]
        return np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, 0), dtype=np.float32)
