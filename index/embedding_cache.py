"""Embedding cache keyed by model id + SHA-256 of the text, so unchanged text is never encoded twice.

Each entry expires `ttl_s` after it was stored: a text edited away, or a retired model's vectors, leaves Redis in
time instead of staying for good. A live item whose entry expired costs one model call on its next re-embed."""

from __future__ import annotations

import hashlib

import numpy as np

from index.encoder import Vectors
from index.kv import KeyValue


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, kv: KeyValue, model_id: str, dimension: int, ttl_s: float | None = None) -> None:
        self._kv = kv
        self._ttl_s = ttl_s
        self._prefix = f"helpstream:emb:{model_id}:"
        self._dimension = dimension

    async def lookup(self, texts: list[str]) -> list[np.ndarray | None]:
        raw = await self._kv.get_many([self._prefix + text_hash(text) for text in texts])
        return [None if value is None else self._decode(value) for value in raw]

    async def store(self, texts: list[str], vectors: Vectors) -> None:
        items = {
            self._prefix + text_hash(text): vectors[i].astype(np.float32).tobytes() for i, text in enumerate(texts)
        }
        await self._kv.set_many(items, ttl_s=self._ttl_s)

    def _decode(self, value: bytes) -> np.ndarray | None:
        vector = np.frombuffer(value, dtype=np.float32)
        return vector if vector.shape == (self._dimension,) else None
