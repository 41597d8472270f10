"""The worker's shared parts: encoder, micro-batcher, content index, key-value store, and their threads."""

from __future__ import annotations

import asyncio
import logging
from functools import cached_property

from index.backends import load_encoder, model_id
from index.batcher import Lane, MicroBatcher
from index.content_index import ContentIndex
from index.embedder import CachedEmbedder
from index.embedding_cache import EmbeddingCache
from index.encoder import DIMENSION, Encoder
from index.executor import encoder_executor, index_executor
from index.kv import KeyValue, connect
from index.search_batcher import SearchBatcher
from index.vector_index import Hit
from streams.metrics import Metrics
from streams.settings import Settings

logger = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.index_executor = index_executor()
        self.index = ContentIndex(model_id(settings.encoder), DIMENSION)
        self._connected: tuple[KeyValue, CachedEmbedder] | None = None
        self._connect_lock = asyncio.Lock()

    @cached_property
    def encoder(self) -> Encoder:
        return load_encoder(
            self.settings.encoder,
            self.settings.data_dir / "models",
            threads=self.settings.inference_threads,
            batch_size=self.settings.batch_max,
        )

    @property
    def model_loaded(self) -> bool:
        return "encoder" in self.__dict__

    def warm_up(self) -> None:
        """Load the model (seconds) before the worker joins the group; encode a lone text and a full batch so
        the first chats do not pay for the kernels' first run."""
        self.encoder.encode(["warm up"])
        self.encoder.encode([f"warming up the encoder with batch row {i}" for i in range(self.settings.batch_max)])
        self.encoder.calls = self.encoder.sentences = 0

    @cached_property
    def batcher(self) -> MicroBatcher:
        return MicroBatcher(
            self.encoder,
            encoder_executor(self.encoder.parallel),
            max_batch=self.settings.batch_max,
            max_wait_s=self.settings.batch_wait_ms / 1000,
            on_batch=self.metrics.observe_batch,
        )

    async def kv(self) -> KeyValue:
        return (await self._connect())[0]

    async def embedder(self) -> CachedEmbedder:
        return (await self._connect())[1]

    async def _connect(self) -> tuple[KeyValue, CachedEmbedder]:
        async with self._connect_lock:
            if self._connected is None:
                kv = await connect(self.settings.redis_url, required=self.settings.require_services)
                cache = EmbeddingCache(kv, self.encoder.model_id, self.encoder.dimension)
                self._connected = (kv, CachedEmbedder(self.batcher, cache))
        return self._connected

    @cached_property
    def searches(self) -> SearchBatcher:
        return SearchBatcher(self.index.search, self.index_executor)

    async def query(self, texts: list[str], k: int, kind: str, lane: Lane) -> list[list[Hit]]:
        return await self.searches.search(await self.batcher.embed(texts, lane), k, kind)

    def follow(self, content_id: str, raw: bytes | None) -> None:
        """Apply a table row to the index on the index thread, in order; callable from sync Faust hooks."""
        self.index_executor.submit(self._apply, content_id, raw)

    def _apply(self, content_id: str, raw: bytes | None) -> None:
        try:
            self.index.apply(content_id, raw)
        except Exception:
            logger.exception("could not apply the table row of %s to the index", content_id)

    async def index_synced(self) -> None:
        """Wait until every row handed to `follow` so far is in the index."""
        await asyncio.get_running_loop().run_in_executor(self.index_executor, _nothing)

    def stats(self) -> dict[str, float]:
        """Counters for `/metrics`, read at scrape time."""
        values: dict[str, float] = {
            "index_items": len(self.index),
            "index_vectors": self.index.vectors.vector_count,
            "index_rows_applied_total": self.index.applied,
        }
        if self.model_loaded:
            values["encoder_calls_total"] = self.encoder.calls
            values["encoded_sentences_total"] = self.encoder.sentences
        if self._connected is not None:
            values["embedding_cache_hits_total"] = self._connected[1].hits
            values["embedding_cache_misses_total"] = self._connected[1].misses
        return values


def _nothing() -> None:
    """A no-op job: once the index thread runs it, every job queued before it has run."""
