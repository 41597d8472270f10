"""The embedding service of one worker: starts and stops the models, their shared index thread and Redis.

It is a `mode.Service` made a dependency of the Faust app after the control channel, so it starts once the
registry is read and before the app's consumer joins the group (the active model is loaded and warmed first),
and stops after it (Redis closed, threads joined, models released). Which models run is `ModelSet`'s job.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mode import Service

from index.batcher import BatchObserver, Lane
from index.encoder import Vectors
from index.executor import index_executor
from index.kv import KeyValue, connect
from index.serving import Answer, ServingModel
from schemas.registry import Registry
from streams.engine.models import ModelSet, NotStarted, model_ref, same_model
from streams.registry.channel import ControlChannel
from streams.settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["EmbeddingService", "NotStarted"]


class EmbeddingService(Service):
    def __init__(
        self, settings: Settings, channel: ControlChannel, on_batch: BatchObserver | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._channel = channel
        # The index thread exists from the start: the table feeds rows to `follow` during recovery, and a
        # model's index built later starts from the rows the table holds by then.
        self._index_thread = index_executor()
        self.models = ModelSet(
            self._index_thread,
            cache_dir=settings.data_dir / "models",
            threads=settings.inference_threads,
            max_batch=settings.batch_max,
            max_wait_s=settings.batch_wait_ms / 1000,
            policy=settings.model_policy(),
            on_batch=on_batch,
            own_setting=settings.model,
            cache_ttl_s=settings.embedding_cache_days * 86400,
        )
        self._kv: KeyValue | None = None
        self._following = False
        channel.on_registry(self._registry_changed)

    async def on_start(self) -> None:
        ca_file = str(self.settings.redis_ca_file) if self.settings.redis_ca_file else None
        self._kv = await connect(self.settings.redis_url, required=self.settings.require_services, ca_file=ca_file)
        registry = self._channel.registry
        mine = model_ref(self.settings.model, self.settings.encoder)
        if registry.active is not None and not same_model(mine.model_id, registry.active.model_id, mine.backend):
            logger.warning(
                "HELPSTREAM_MODEL=%s on %s is %s, but the registry's active model is %s: following the registry "
                "(`helpstream model add` and `promote` change it for the whole group)",
                self.settings.model,
                self.settings.encoder,
                mine.model_id,
                registry.active.model_id,
            )
        await self.models.start(registry, self._kv)
        self._following = True
        self.models.follow_registry(self._channel.registry)  # a record that came while the model loaded

    def _registry_changed(self, registry: Registry) -> None:
        if self._following:
            self.models.follow_registry(registry)

    async def on_stop(self) -> None:
        await self._channel.report_now()  # stopped before the channel: its last report is made while models answer
        self._following = False
        await self.models.close()
        if self._kv is not None:
            await self._kv.close()
        await asyncio.get_running_loop().run_in_executor(None, self._index_thread.shutdown)
        self._kv = None
        logger.info("embedding service stopped: Redis closed, models released, threads joined")

    @property
    def started(self) -> bool:
        return self._kv is not None

    @property
    def ready(self) -> bool:
        """Started: the active model is loaded and the key-value store connected."""
        return self.models.active_id is not None and self._kv is not None

    @property
    def kv(self) -> KeyValue:
        if self._kv is None:
            raise NotStarted("the embedding service is not connected to Redis")
        return self._kv

    @property
    def parallel(self) -> int:
        """Model calls that run at once: known from the settings before the model is loaded."""
        return 1 if self.settings.encoder == "torch" else self.settings.inference_threads

    # -- what the agents and views call ----------------------------------------------------------------------
    async def query(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer:
        """Answered by the active model, with the index state it used."""
        return await self.models.answer(texts, k, kind, lane)

    def challenger(self) -> str | None:
        """The candidate interleaving judges: the registry's first whose index covers the table here (None when
        there is none: interleaving starts once a candidate's backfill is done)."""
        candidates = self.models.candidates()
        return candidates[0].model_id if candidates else None

    async def challenge(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer | None:
        """Answered by `challenger()`, or None."""
        candidates = self.models.candidates()
        if not candidates:
            return None
        return await candidates[0].answer(texts, k, kind, lane)

    def content_models(self) -> list[str]:
        """Models loaded here, active first: what a content edit is embedded with."""
        return self.models.loaded_ids()

    def kept_models(self) -> set[str]:
        """Every model of the registry: the vectors a row keeps when an edit leaves its texts as they were."""
        return set(self.models.live_ids())

    async def embed_content(self, texts: list[str], model_id: str) -> Vectors:
        serving = self.models.serving(model_id)
        if serving is None:
            raise NotStarted(f"model {model_id} is not loaded")
        return await serving.embed_content(texts)

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
        self.models.follow(content_id, raw)

    async def index_synced(self) -> None:
        await self.models.synced()

    def cache_errors(self) -> int:
        return sum(s.embedder.cache_errors for s in self._loaded())

    def cache_counts(self) -> tuple[int, int]:
        """(hits, misses) of the embedding caches of every loaded model."""
        loaded = self._loaded()
        return sum(s.embedder.hits for s in loaded), sum(s.embedder.misses for s in loaded)

    def _loaded(self) -> list[ServingModel]:
        return [s for mid in self.models.loaded_ids() if (s := self.models.serving(mid)) is not None]


_CANARY = "where is my card"
