from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from index.batcher import MicroBatcher
from index.embedder import CachedEmbedder
from index.embedding_cache import EmbeddingCache
from index.kv import MemoryKeyValue, connect
from tests.unit.index.fakes import FakeEncoder, vector


async def test_unchanged_text_is_never_encoded_twice(executor: ThreadPoolExecutor) -> None:
    encoder = FakeEncoder()
    kv = MemoryKeyValue()
    embedder = CachedEmbedder(MicroBatcher(encoder, executor), EmbeddingCache(kv, "fake", 8))
    first = await embedder.embed(["a", "b", "a"])
    second = await embedder.embed(["b", "c"])
    np.testing.assert_allclose(first, np.stack([vector("a"), vector("b"), vector("a")]))
    np.testing.assert_allclose(second, np.stack([vector("b"), vector("c")]))
    assert encoder.sentences == 3
    assert (embedder.hits, embedder.misses) == (1, 3)


async def test_the_cache_key_carries_the_model_id_so_variants_never_share_vectors() -> None:
    kv = MemoryKeyValue()
    await EmbeddingCache(kv, "model-a", 8).store(["t"], vector("t")[None, :])
    assert await EmbeddingCache(kv, "model-b", 8).lookup(["t"]) == [None]
    assert (await EmbeddingCache(kv, "model-a", 8).lookup(["t"]))[0] is not None


async def test_without_redis_the_store_falls_back_to_memory_unless_redis_is_required(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kv = await connect("redis://127.0.0.1:1/0", required=False)
    assert not kv.durable
    assert "REDIS UNAVAILABLE" in caplog.text
    with pytest.raises(ConnectionError, match="does not answer"):
        await connect("redis://127.0.0.1:1/0", required=True)


async def test_memory_store_expires_keys_after_their_ttl() -> None:
    kv = MemoryKeyValue()
    await kv.set_many({"k": b"v"}, ttl_s=-1)
    await kv.set_many({"kept": b"v"})
    assert await kv.get_many(["k", "kept"]) == [None, b"v"]


async def test_a_cached_vector_expires_after_the_caches_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("index.kv.time.monotonic", lambda: clock[0])
    kv = MemoryKeyValue()
    await EmbeddingCache(kv, "model-a", 8, ttl_s=3600).store(["t"], vector("t")[None, :])
    clock[0] += 3599
    assert (await EmbeddingCache(kv, "model-a", 8).lookup(["t"]))[0] is not None
    clock[0] += 2
    assert await EmbeddingCache(kv, "model-a", 8).lookup(["t"]) == [None]
