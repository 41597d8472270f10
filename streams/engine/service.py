"""The embedding service of one worker: model, micro-batchers, the index thread and Redis, started and stopped.

It is a `mode.Service` made a dependency of the Faust app, so it starts before the app's consumer joins the
group (the model is loaded and warmed first) and stops after it (Redis closed, threads joined, model released).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mode import Service

from index.backends import load_encoder, model_id
from index.batcher import BatchObserver, Lane, MicroBatcher
from index.content_index import ContentIndex
from index.embedder import CachedEmbedder
from index.embedding_cache import EmbeddingCache
from index.encoder import Encoder, Vectors
from index.executor import encoder_executor, index_executor
from index.kv import KeyValue, connect
from index.models import fetched, resolve
from index.search_batcher import SearchBatcher
from index.vector_index import Hit
from streams.settings import Settings

logger = logging.getLogger(__name__)


class NotStarted(RuntimeError):
    """The service was used before `start()` finished (or after `stop()`)."""


class EmbeddingService(Service):
    def __init__(self, settings: Settings, on_batch: BatchObserver | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._on_batch = on_batch
        # The index and its thread exist from the start: the table feeds rows to `follow` during recovery.
        self.model = fetched(resolve(settings.model))
        self.index = ContentIndex(model_id(self.model, settings.encoder), self.model.dimension)
        self._index_thread = index_executor()
        self._encoder: Encoder | None = None
        self._encoder_threads: ThreadPoolExecutor | None = None
        self._batcher: MicroBatcher | None = None
        self._searches: SearchBatcher | None = None
        self._kv: KeyValue | None = None
        self._embedder: CachedEmbedder | None = None
        self.load_seconds: float | None = None

    async def on_start(self) -> None:
        loop = asyncio.get_running_loop()
        # Seconds of CPU: off the event loop, so heartbeats of an already running app and signals go on.
        self._encoder = await loop.run_in_executor(None, self._load_encoder)
        self._encoder_threads = encoder_executor(self._encoder.parallel)
        self._batcher = MicroBatcher(
            self._encoder,
            self._encoder_threads,
            max_batch=self.settings.batch_max,
            max_wait_s=self.settings.batch_wait_ms / 1000,
            on_batch=self._on_batch,
        )
        self._searches = SearchBatcher(self.index.search, self._index_thread)
        ca_file = str(self.settings.redis_ca_file) if self.settings.redis_ca_file else None
        self._kv = await connect(self.settings.redis_url, required=self.settings.require_services, ca_file=ca_file)
        self._embedder = CachedEmbedder(
            self._batcher, EmbeddingCache(self._kv, self._encoder.model_id, self._encoder.dimension)
        )

    async def on_stop(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
        if self._searches is not None:
            await self._searches.close()
        if self._kv is not None:
            await self._kv.close()
        loop = asyncio.get_running_loop()
        for threads in (self._encoder_threads, self._index_thread):
            if threads is not None:
                await loop.run_in_executor(None, threads.shutdown)
        self._encoder = self._encoder_threads = self._batcher = self._searches = None
        self._kv = self._embedder = None
        logger.info("embedding service stopped: Redis closed, model released, threads joined")

    def _load_encoder(self) -> Encoder:
        """Load the model and encode a lone text and a full batch, so the first chats do not pay for the
        kernels' first run."""
        started = time.perf_counter()
        encoder = load_encoder(
            self.model,
            self.settings.encoder,
            self.settings.data_dir / "models",
            threads=self.settings.inference_threads,
            batch_size=self.settings.batch_max,
        )
        self.load_seconds = time.perf_counter() - started
        encoder.encode(["warm up"])
        encoder.encode([f"warming up the encoder with batch row {i}" for i in range(self.settings.batch_max)])
        encoder.calls = encoder.sentences = 0
        return encoder

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            raise NotStarted("the embedding service has not loaded its model")
        return self._encoder

    @property
    def model_loaded(self) -> bool:
        return self._encoder is not None

    @property
    def ready(self) -> bool:
        """Started: the model is loaded and the key-value store connected."""
        return self._encoder is not None and self._kv is not None

    @property
    def kv(self) -> KeyValue:
        if self._kv is None:
            raise NotStarted("the embedding service is not connected to Redis")
        return self._kv

    @property
    def parallel(self) -> int:
        """Model calls that run at once: known from the settings before the model is loaded."""
        return 1 if self.settings.encoder == "torch" else self.settings.inference_threads

    async def embed(self, texts: list[str], lane: Lane) -> Vectors:
        if self._batcher is None:
            raise NotStarted("the embedding service has not started")
        return await self._batcher.embed(texts, lane)

    async def embed_content(self, texts: list[str]) -> Vectors:
        """Content texts through the embedding cache, the misses through the model (content lane)."""
        if self._embedder is None:
            raise NotStarted("the embedding service has not started")
        return await self._embedder.embed(texts)

    async def query(self, texts: list[str], k: int, kind: str, lane: Lane) -> list[list[Hit]]:
        if self._searches is None:
            raise NotStarted("the embedding service has not started")
        return await self._searches.search(await self.embed(texts, lane), k, kind)

    async def healthy(self) -> bool:
        """Whether a canary text embeds and searches: when a batch fails, this tells a bad event from a broken
        model or index."""
        try:
            await self.query([_CANARY], 1, "saved_response", Lane.CHAT)
        except Exception:
            logger.exception("the canary failed: the model or the index is broken")
            return False
        return True

    def follow(self, content_id: str, raw: bytes | None) -> None:
        """Apply a table row to the index on the index thread, in order; callable from sync Faust hooks."""
        self._index_thread.submit(self._apply, content_id, raw)

    def _apply(self, content_id: str, raw: bytes | None) -> None:
        try:
            self.index.apply(content_id, raw)
        except Exception:
            logger.exception("could not apply the table row of %s to the index", content_id)

    async def index_synced(self) -> None:
        """Wait until every row handed to `follow` so far is in the index."""
        await asyncio.get_running_loop().run_in_executor(self._index_thread, _nothing)

    def cache_errors(self) -> int:
        return 0 if self._embedder is None else self._embedder.cache_errors

    def cache_counts(self) -> tuple[int, int]:
        """(hits, misses) of the embedding cache; zeros before start."""
        return (0, 0) if self._embedder is None else (self._embedder.hits, self._embedder.misses)


_CANARY = "where is my card"


def _nothing() -> None:
    """A no-op job: once the index thread runs it, every job queued before it has run."""
