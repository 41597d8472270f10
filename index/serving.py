"""One loaded model and what serves with it: its encoder threads, micro-batcher, embedding cache and index."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from index.batcher import BatchObserver, Clock, Lane, MicroBatcher
from index.content_index import ContentIndex
from index.embedder import CachedEmbedder
from index.embedding_cache import EmbeddingCache
from index.encoder import Encoder, Vectors
from index.executor import encoder_executor
from index.kv import KeyValue
from index.search_batcher import SearchBatcher
from index.vector_index import Hit
from schemas import IndexWatermark


@dataclass(frozen=True)
class Moments:
    """When (by the model's clock: wall-clock seconds) an answer was asked for, its model call started and ended,
    and the index answered: the boundaries of its batch-wait, encode and search stages."""

    asked: float
    encode_started: float
    encoded: float
    searched: float


@dataclass(frozen=True)
class Answer:
    """What a model answered for a batch of texts, which index state it used, and how long it took."""

    hits: list[list[Hit]]
    model_id: str
    watermark: IndexWatermark
    encode_seconds: float  # the model calls alone, without the wait for them
    moments: Moments


class ServingModel:
    """Searches go through the shared index thread (`index_thread`), model calls through this model's own."""

    def __init__(
        self,
        encoder: Encoder,
        index: ContentIndex,
        index_thread: Executor,
        kv: KeyValue,
        *,
        max_batch: int,
        max_wait_s: float,
        on_batch: BatchObserver | None = None,
        defer_to: Callable[[], MicroBatcher | None] | None = None,
        clock: Clock = time.time,
        cache_ttl_s: float | None = None,
    ) -> None:
        self.encoder = encoder
        self.index = index
        self._clock = clock
        self._threads = encoder_executor(encoder.parallel)
        self.batcher = MicroBatcher(
            encoder,
            self._threads,
            max_batch=max_batch,
            max_wait_s=max_wait_s,
            on_batch=on_batch,
            defer_to=defer_to,
            clock=clock,
        )
        self._searches = SearchBatcher(index.search, index_thread)
        self.embedder = CachedEmbedder(
            self.batcher, EmbeddingCache(kv, encoder.model_id, encoder.dimension, cache_ttl_s)
        )

    @property
    def model_id(self) -> str:
        """The registry's id, under which the vectors are stored (an int8 build may name other kernels)."""
        return self.index.model_id

    async def embed(self, texts: list[str], lane: Lane) -> Vectors:
        return await self.batcher.embed(texts, lane)

    async def embed_content(self, texts: list[str]) -> Vectors:
        """Content texts through the embedding cache, the misses through the model (content lane)."""
        return await self.embedder.embed(texts)

    async def answer(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer:
        asked = self._clock()
        timing: list[tuple[float, float]] = []
        vectors = await self.batcher.embed(texts, lane, timing)
        # Read just before the search is queued on the index thread: a row applied in between is not in it.
        watermark = self.index.watermark()
        hits = await self._searches.search(vectors, k, kind)
        searched = self._clock()
        # No call (no texts): the stages are empty rather than negative.
        started = min((start for start, _ in timing), default=asked)
        ended = max((start + took for start, took in timing), default=started)
        moments = Moments(asked, started, ended, searched)
        return Answer(hits, self.model_id, watermark, sum(took for _, took in timing), moments)

    async def close(self) -> None:
        await self.batcher.close()
        await self._searches.close()
        await asyncio.get_running_loop().run_in_executor(None, self._threads.shutdown)
