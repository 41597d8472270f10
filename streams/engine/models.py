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
from index.encoder import Encoder
from index.kv import KeyValue
from index.models import fetched, resolve
from index.serving import Answer, ServingModel
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


class ModelSet:
    def __init__(
        self,
        index_thread: Executor,
        *,
        cache_dir: Path,
        threads: int,
        max_batch: int,
        max_wait_s: float,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._index_thread = index_thread
        self._cache_dir = cache_dir
        self._threads = threads
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._refs: dict[str, ModelRef] = {}
        self._indexes: dict[str, ContentIndex] = {}
        self._serving: dict[str, ServingModel] = {}
        self._loads: dict[str, asyncio.Task[None]] = {}
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
        self._index_thread.submit(self._apply, list(self._indexes.values()), content_id, raw)

    @staticmethod
    def _apply(indexes: list[ContentIndex], content_id: str, raw: bytes | None) -> None:
        try:
            entry = None if raw is None else ContentEntry.model_validate_json(raw)
        except ValidationError as exc:
            logger.warning("the table row of %s cannot be read (%s): ignored", content_id, exc.errors()[0])
            return
        for index in indexes:
            try:
                index.apply(content_id, entry)
            except Exception:
                logger.exception("could not apply the table row of %s to the %s index", content_id, index.model_id)

    async def missing(self, model_id: str) -> list[str]:
        """Backfillable items the model's index lacks, read on the index thread (which changes the index)."""
        index = self._indexes.get(model_id)
        if index is None:
            return []
        return await asyncio.get_running_loop().run_in_executor(self._index_thread, index.missing)

    async def synced(self) -> None:
        """Wait until every row handed to `follow` so far is in the indexes."""
        await asyncio.get_running_loop().run_in_executor(self._index_thread, _nothing)

    # -- following the registry ----------------------------------------------------------------------------
    async def start(self, registry: Registry, kv: KeyValue) -> None:
        """Follow `registry` and wait for its active model to load (a worker cannot serve without it)."""
        self._kv = kv
        self.follow_registry(registry)
        active = registry.active
        if active is None:
            raise RuntimeError("the model registry names no active model")
        await self._loads[active.model_id]
        if active.model_id in self.errors:
            raise RuntimeError(
                f"cannot load the registry's active model {active.model_id}: {self.errors[active.model_id]}"
            )

    def follow_registry(self, registry: Registry) -> None:
        """Called on the event loop for each registry record: new models get an index at once (seeded from the
        table in the same step, so no row is missed) and load in the background; dropped ones are closed."""
        if registry.revision < self.registry.revision:
            return
        self.registry = registry
        wanted = {ref.model_id: ref for ref in registry.live()}
        for ref in wanted.values():
            if ref.model_id not in self._indexes:
                self._add_index(ref)
        for gone in [mid for mid in self._indexes if mid not in wanted]:
            self._indexes.pop(gone)
            self._refs.pop(gone)
            self.errors.pop(gone, None)
            task = self._loads.pop(gone, None)
            if task is not None:
                task.cancel()
            serving = self._serving.pop(gone, None)
            if serving is not None:
                asyncio.get_running_loop().create_task(serving.close())
            logger.info("model %s retired on this worker: its index and encoder are released", gone)
        for ref in wanted.values():
            if ref.model_id not in self._loads:
                self._loads[ref.model_id] = asyncio.get_running_loop().create_task(self._load(ref))
        self._switch()

    def _add_index(self, ref: ModelRef) -> None:
        index = ContentIndex(ref.model_id, fetched(resolve(ref.model)).dimension)
        self._refs[ref.model_id] = ref
        self._indexes[ref.model_id] = index
        rows = list(self._table_rows())
        for content_id, raw in rows:
            self._index_thread.submit(self._apply, [index], content_id, raw)
        logger.info("model %s: index built from the %s rows the table holds", ref.model_id, len(rows))

    def _switch(self) -> None:
        active = self.registry.active
        if active is None or active.model_id == self.active_id or active.model_id not in self._serving:
            return
        before, self.active_id = self.active_id, active.model_id
        logger.info(
            "now answering with %s (registry revision %s; was %s)", active.model_id, self.registry.revision, before
        )

    async def _load(self, ref: ModelRef) -> None:
        started = time.perf_counter()
        try:
            encoder = await asyncio.get_running_loop().run_in_executor(None, self._load_encoder, ref)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors[ref.model_id] = f"{type(exc).__name__}: {exc}"
            logger.exception("cannot load model %s (%s)", ref.model_id, ref.model)
            return
        if ref.model_id not in self._indexes or self._kv is None:
            return  # retired while it loaded
        self._serving[ref.model_id] = ServingModel(
            encoder,
            self._indexes[ref.model_id],
            self._index_thread,
            self._kv,
            max_batch=self._max_batch,
            max_wait_s=self._max_wait_s,
            on_batch=self._on_batch,
            defer_to=self._active_batcher,
        )
        self.load_seconds[ref.model_id] = time.perf_counter() - started
        logger.info("model %s loaded in %.1f s", ref.model_id, self.load_seconds[ref.model_id])
        self._switch()

    def _load_encoder(self, ref: ModelRef) -> Encoder:
        """Load the model and encode a lone text and a full batch, so the first chats do not pay for the
        kernels' first run."""
        model = fetched(resolve(ref.model))
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
        """Models loaded here, the active first: what a content edit is embedded with."""
        return [mid for mid in self.live_ids() if mid in self._serving]

    def candidates(self) -> list[ServingModel]:
        """Loaded candidates: what shadow scoring runs."""
        found = (self._serving.get(ref.model_id) for ref in self.registry.candidates)
        return [serving for serving in found if serving is not None]

    async def answer(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer:
        return await self.active.answer(texts, k, kind, lane)

    async def close(self) -> None:
        for task in self._loads.values():
            task.cancel()
        await asyncio.gather(*self._loads.values(), return_exceptions=True)
        await asyncio.gather(*(serving.close() for serving in self._serving.values()))
        self._serving.clear()
        self.active_id = None


def _nothing() -> None:
    """A no-op job: once the index thread runs it, every job queued before it has run."""
