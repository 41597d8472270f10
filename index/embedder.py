"""Embeds content texts through the embedding cache first and the micro-batcher (content lane) for the misses.

The cache only saves work: when Redis fails or hangs, every text is a miss and nothing is stored, and the item
is embedded all the same.
"""

from __future__ import annotations

import logging

import numpy as np
from redis.exceptions import RedisError

from index.batcher import Lane, MicroBatcher
from index.embedding_cache import EmbeddingCache
from index.encoder import Vectors

logger = logging.getLogger(__name__)

_CACHE_ERRORS = (RedisError, OSError)


class CachedEmbedder:
    def __init__(self, batcher: MicroBatcher, cache: EmbeddingCache) -> None:
        self._batcher = batcher
        self._cache = cache
        self.hits = 0
        self.misses = 0
        self.cache_errors = 0

    async def embed(self, texts: list[str]) -> Vectors:
        try:
            cached = await self._cache.lookup(texts)
        except _CACHE_ERRORS as exc:
            self.cache_errors += 1
            logger.warning("embedding cache lookup failed (%r): encoding all %s texts", exc, len(texts))
            cached = [None] * len(texts)
        missing = sorted({text for text, vector in zip(texts, cached, strict=True) if vector is None})
        self.hits += len(texts) - sum(vector is None for vector in cached)
        self.misses += len(missing)
        fresh: dict[str, np.ndarray] = {}
        if missing:
            vectors = await self._batcher.embed(missing, Lane.CONTENT)
            try:
                await self._cache.store(missing, vectors)
            except _CACHE_ERRORS as exc:
                self.cache_errors += 1
                logger.warning("embedding cache store failed (%r): %s vectors not cached", exc, len(missing))
            fresh = dict(zip(missing, vectors, strict=True))
        rows = [vector if vector is not None else fresh[text] for text, vector in zip(texts, cached, strict=True)]
        return np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, 0), dtype=np.float32)
