"""The models a worker runs, as the registry says: loads and drops them live, feeds every index the table's rows,
and answers with the active one. Which model is active switches on the registry record, with no restart."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from pathlib import Path

from pydantic import ValidationError

from index.backends import load_encoder, model_id
from index.batcher import BatchObserver, Lane, MicroBatcher
from index.content_index import ContentIndex
from index.encoder import Encoder, Vectors
from index.kv import KeyValue
from index.model_policy import ModelPolicy
from index.models import Model, ModelUnavailable, fetched, resolve
from index.serving import Answer, ServingModel
from index.usage_memory import model_memory
from schemas import ContentEntry
from schemas.registry import ModelRef, Registry

logger = logging.getLogger(__name__)

TableRows = Callable[[], Iterable[tuple[str, bytes]]]


class NotStarted(RuntimeError):
    """The models were used before the active one was loaded (or after `close()`)."""


def model_ref(setting: str, backend: str) -> ModelRef:
    """The registry entry of a `HELPSTREAM_MODEL`-style setting on a backend (cheap: no weights are loaded)."""
    model = fetched(resolve(setting))
    return ModelRef.model_validate(
        {"model_id": model_id(model, backend), "model": setting, "backend": backend}  # type: ignore[arg-type]
    )


def same_model(local_id: str, registry_id: str, backend: str) -> bool:
    """Whether this worker's build of a model is the registry's. An int8 id names the kernels of the CPU that
    quantised it, which differ between CPUs of one group: only the model part must match."""
    if backend == "onnx-int8":
        return local_id.rsplit("/", 1)[0] == registry_id.rsplit("/", 1)[0]
    return local_id == registry_id


SEED_CHUNK = 256  # table rows per index-thread job while a new model's index is built: searches go in between


class ModelSet:
    def __init__(
        self,
        index_thread: Executor,
        *,
        cache_dir: Path,
        threads: int,
        max_batch: int,
        max_wait_s: float,
        policy: ModelPolicy,
        on_batch: BatchObserver | None = None,
        own_setting: str | None = None,
        cache_ttl_s: float | None = None,
    ) -> None:
        self._index_thread = index_thread
        self._policy = policy
        self._own_setting = own_setting
        self._cache_dir = cache_dir
        self._threads = threads
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._cache_ttl_s = cache_ttl_s
        self._on_batch = on_batch
        self._indexes: dict[str, ContentIndex] = {}  # every index that follows the table's rows
        self._seeding: dict[str, list[tuple[str, bytes | None]]] = {}  # rows held back while an index is built
        self._serving: dict[str, ServingModel] = {}
        self._adds: dict[str, asyncio.Task[None]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.errors: dict[str, str] = {}
        self.load_seconds: dict[str, float] = {}
        self.active_id: str | None = None
        self.registry = Registry()
        self._table_rows: TableRows = list
        self._kv: KeyValue | None = None

    # -- the content table ---------------------------------------------------------------------------------
    def read_table_with(self, rows: TableRows) -> None:
        """How a model added later reads the rows the table already holds."""
        self._table_rows = rows

    def follow(self, content_id: str, raw: bytes | None) -> None:
        """Apply a table row to every model's index on the index thread, in order; callable from sync hooks."""
        for held in self._seeding.values():
            held.append((content_id, raw))
        ready = [index for mid, index in self._indexes.items() if mid not in self._seeding]
        self._index_thread.submit(self._apply, ready, [(content_id, raw)])

    @staticmethod
    def _apply(indexes: list[ContentIndex], rows: list[tuple[str, bytes | None]]) -> None:
        for content_id, raw in rows:
            try:
                entry = None if raw is None else ContentEntry.model_validate_json(raw)
            except ValidationError as exc:
                logger.warning("the table row of %s cannot be read (%s): ignored", content_id, exc.errors()[0])
                continue
            for index in indexes:
                try:
                    index.apply(content_id, entry)
                except Exception:
                    logger.exception("could not apply the row of %s to the %s index", content_id, index.model_id)

    async def synced(self) -> None:
        """Wait until every row handed to `follow` so far is in the indexes."""
        await asyncio.get_running_loop().run_in_executor(self._index_thread, _nothing)

    async def missing(self, model_id: str, limit: int) -> list[str]:
        """Backfillable items the model's index lacks, read on the index thread (which changes the index)."""
        index = self._indexes.get(model_id)
        if index is None or model_id in self._seeding:
            return []
        return await asyncio.get_running_loop().run_in_executor(self._index_thread, index.missing, limit)

    # -- following the registry ----------------------------------------------------------------------------
    async def start(self, registry: Registry, kv: KeyValue) -> None:
        """Follow `registry` and wait for its active model to load (a worker cannot serve without it)."""
        self._kv = kv
        active = registry.active
        if active is None:
            raise RuntimeError("the model registry names no active model")
        self.follow_registry(registry)
        await self._adds[active.model_id]
        if active.model_id not in self.errors:
            return
        problem = f"cannot load the registry's active model {active.model_id}: {self.errors[active.model_id]}"
        fallback = registry.previous
        if fallback is not None:
            await self._adds[fallback.model_id]
            if fallback.model_id in self._serving:
                # A restart must not take the group down over a model an operator forced in: serve the one before.
                self.active_id = fallback.model_id
                logger.error(
                    "%s; answering with the previous model, %s, until the registry changes", problem, fallback.model_id
                )
                return
        raise RuntimeError(problem)

    def follow_registry(self, registry: Registry) -> None:
        """Called on the event loop for each registry record: a new model gets its index and loads in the
        background; a model that left the registry is released; the active one switches once it is loaded."""
        if registry.revision < self.registry.revision:
            return
        self.registry = registry
        wanted = {ref.model_id: ref for ref in registry.live()}
        for gone in [mid for mid in self._adds if mid not in wanted]:
            self._release(gone)
        for ref in wanted.values():
            if ref.model_id not in self._adds:
                self._adds[ref.model_id] = asyncio.get_running_loop().create_task(self._add(ref))
        self._switch()

    def _release(self, model_id: str) -> None:
        self._adds.pop(model_id).cancel()
        self._indexes.pop(model_id, None)
        self._seeding.pop(model_id, None)
        self.errors.pop(model_id, None)
        self.load_seconds.pop(model_id, None)
        serving = self._serving.pop(model_id, None)
        if serving is not None:
            task = asyncio.get_running_loop().create_task(serving.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        if self.active_id == model_id:
            # Retired while this worker still answered with it (a promote it could not follow): not ready now.
            logger.error("model %s was retired while this worker answered with it", model_id)
            self.active_id = None
        logger.info("model %s left the registry: its index and encoder are released on this worker", model_id)

    def _switch(self) -> None:
        active = self.registry.active
        if active is None or active.model_id == self.active_id or active.model_id not in self._serving:
            return
        before, self.active_id = self.active_id, active.model_id
        logger.info(
            "now answering with %s (registry revision %s; was %s)", active.model_id, self.registry.revision, before
        )

    async def _add(self, ref: ModelRef) -> None:
        """Its index (built from the table's rows while later rows wait), then its encoder; a failure is kept in
        `errors`, reported in `/healthz` and the figures, and leaves the other models as they are."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            model = await loop.run_in_executor(None, lambda: self._resolve(ref))
            memory = await loop.run_in_executor(None, model_memory, model.directory, model.dimension, model.manifest)
            await self._build_index(ref.model_id, model.dimension, memory)
            encoder = await loop.run_in_executor(None, self._load_encoder, ref)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors[ref.model_id] = f"{type(exc).__name__}: {exc}"
            logger.exception("cannot load model %s (%s)", ref.model_id, ref.model)
            return
        assert self._kv is not None  # started
        self._serving[ref.model_id] = ServingModel(
            encoder,
            self._indexes[ref.model_id],
            self._index_thread,
            self._kv,
            max_batch=self._max_batch,
            max_wait_s=self._max_wait_s,
            on_batch=self._on_batch,
            defer_to=self._active_batcher,
            cache_ttl_s=self._cache_ttl_s,
        )
        self.load_seconds[ref.model_id] = time.perf_counter() - started
        logger.info("model %s loaded in %.1f s", ref.model_id, self.load_seconds[ref.model_id])
        self._switch()

    async def _build_index(self, model_id: str, dimension: int, memory: dict[str, Vectors]) -> None:
        """The rows the table holds now, a chunk per index-thread job so searches are not held up; rows that
        arrive meanwhile are held back and applied after them, in order. `memory`: the model's usage memory."""
        index = ContentIndex(model_id, dimension, memory)
        held: list[tuple[str, bytes | None]] = []
        self._seeding[model_id] = held
        self._indexes[model_id] = index
        loop = asyncio.get_running_loop()
        try:
            rows: list[tuple[str, bytes | None]] = list(self._table_rows())
            for start in range(0, len(rows), SEED_CHUNK):
                await loop.run_in_executor(self._index_thread, self._apply, [index], rows[start : start + SEED_CHUNK])
        finally:
            if self._seeding.get(model_id) is held:  # not a later add of the same model
                del self._seeding[model_id]
        # On the event loop, with `follow` unable to run in between: from here rows go straight to the index.
        self._index_thread.submit(self._apply, [index], held)
        logger.info("model %s: index built from the %s rows the table holds", model_id, len(rows))

    def _resolve(self, ref: ModelRef) -> Model:
        """The registry's model as this worker has it, if this deployment allows it (`ModelRefused` otherwise).
        A worker whose own `HELPSTREAM_MODEL` is that model under another setting (an exported directory of
        `minilm-l6`, a path mounted elsewhere) loads its own: a lean worker cannot export the registry's
        `minilm-l6` but serves the same vectors from the export."""
        if self._own_setting is not None and self._own_setting != ref.model:
            try:
                own = fetched(self._policy.allowed(self._own_setting))
            except ModelUnavailable:
                own = None
            if own is not None and same_model(model_id(own, ref.backend), ref.model_id, ref.backend):
                return own
        return fetched(self._policy.allowed(ref.model))

    def _load_encoder(self, ref: ModelRef) -> Encoder:
        """Load the model and encode a lone text and a full batch, so the first chats do not pay for the
        kernels' first run."""
        model = self._resolve(ref)
        local = model_id(model, ref.backend)
        if not same_model(local, ref.model_id, ref.backend):
            raise ValueError(f"{ref.model} here is {local}, not the registry's {ref.model_id} (other weights?)")
        encoder = load_encoder(model, ref.backend, self._cache_dir, threads=self._threads, batch_size=self._max_batch)
        encoder.encode(["warm up"])
        encoder.encode([f"warming up the encoder with batch row {i}" for i in range(self._max_batch)])
        encoder.calls = encoder.sentences = 0
        return encoder

    def _active_batcher(self) -> MicroBatcher | None:
        """What every other model's batcher defers to: shadow scoring and backfills wait while it has work."""
        active = None if self.active_id is None else self._serving.get(self.active_id)
        return None if active is None else active.batcher

    @property
    def model_busy(self) -> bool:
        """Whether the active model has a call running or queued (a new chat would wait for it anyway)."""
        batcher = self._active_batcher()
        return batcher is not None and not batcher.idle

    # -- answering -----------------------------------------------------------------------------------------
    @property
    def active(self) -> ServingModel:
        serving = None if self.active_id is None else self._serving.get(self.active_id)
        if serving is None:
            raise NotStarted("no model is loaded yet")
        return serving

    def serving(self, model_id: str) -> ServingModel | None:
        return self._serving.get(model_id)

    def index(self, model_id: str) -> ContentIndex | None:
        return self._indexes.get(model_id)

    def live_ids(self) -> list[str]:
        """Every model of the registry this worker follows, active first."""
        return [ref.model_id for ref in self.registry.live()]

    def loaded_ids(self) -> list[str]:
        """Models loaded here, the one answering first: what a content edit is embedded with."""
        loaded = [mid for mid in self.live_ids() if mid in self._serving]
        return sorted(loaded, key=lambda mid: mid != self.active_id)

    def candidates(self) -> list[ServingModel]:
        """Loaded candidates whose index holds every item it can here: what shadow scoring runs. A half-filled
        index would tally the backfill's progress, not the model, and take the model time the backfill needs."""
        found = (self._serving.get(ref.model_id) for ref in self.registry.candidates)
        return [s for s in found if s is not None and s.model_id != self.active_id and self.covers(s.model_id)]

    def covers(self, model_id: str) -> bool:
        """Whether the model's index here holds every live item that has stored texts."""
        index = self._indexes.get(model_id)
        return index is not None and model_id not in self._seeding and index.to_fill() == 0

    async def answer(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer:
        return await self.active.answer(texts, k, kind, lane)

    async def close(self) -> None:
        for task in self._adds.values():
            task.cancel()
        await asyncio.gather(*self._adds.values(), *self._closing, return_exceptions=True)
        await asyncio.gather(*(serving.close() for serving in self._serving.values()))
        self._serving.clear()
        self.active_id = None


def _nothing() -> None:
    """A no-op job: once the index thread runs it, every job queued before it has run."""
