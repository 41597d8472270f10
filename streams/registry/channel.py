"""The control topics: the registry (operators write it, signed) and every worker's figures (workers write them),
read, followed and written.

Workers run `ControlChannel`: before the models load it reads both topics to their end (seeding an empty registry
with `HELPSTREAM_MODEL`), then follows them live, publishes this worker's figures every few seconds and deletes the
reports of workers long gone whose votes no longer count. The `helpstream model` commands use `read_control` and
`write_registry`. A registry record is followed only when it verifies against the operators' public key (when one
is set) and, read live, when its promote passes the gates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from mode import Service
from pydantic import ValidationError

from schemas import encode
from schemas.registry import FIGURES_PREFIX, REGISTRY_KEY, ModelRef, Registry, WorkerFigures
from streams.clients.kafka import KafkaConnection, start_or_explain
from streams.registry.admission import refusal
from streams.registry.figures import forgettable
from streams.registry.signing import Signer, Verifier
from streams.registry.state import seed
from streams.settings import Settings

logger = logging.getLogger(__name__)

FIGURES_EVERY_S = 2.0
FORGET_EVERY_S = 60.0  # how often a worker deletes the reports of gone workers that no longer count
FORGET_AFTER_S = 300.0  # how long a worker is silent before its report may go: far longer than a restart's pause
FINAL_REPORT_S = 5.0  # how long a stopping worker waits for its last report to reach the broker
RECENT_REPORTS = 16  # a worker's reports kept to judge a promote by: longer than a record takes to arrive
RegistryListener = Callable[[Registry], None]
StartListener = Callable[[Registry, WorkerFigures | None], None]


@dataclass(frozen=True)
class ControlTopics:
    """Two topics, so the broker's ACLs decide who writes each: operators the registry, workers the figures."""

    registry: str
    figures: str

    def partitions(self) -> list[TopicPartition]:
        return [TopicPartition(self.registry, 0), TopicPartition(self.figures, 0)]


@dataclass
class ControlState:
    """The latest registry followed, the latest figures of each worker, and the registry records refused."""

    topics: ControlTopics
    verifier: Verifier | None = None
    budget_chat_p99_ms: float = 1000.0
    registry: Registry = field(default_factory=Registry)
    figures: dict[str, WorkerFigures] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    # Each worker's recent reports, so a promote is judged on the figures of the moment it was made: kept when its
    # report is deleted, as a promote may still arrive that was judged with it.
    recent: dict[str, deque[WorkerFigures]] = field(default_factory=dict)
    # When a figures record of each worker last arrived, by this process's monotonic clock.
    arrived: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> ControlState:
        """Empty, for the topics, key and budget the settings name."""
        public, signing = settings.registry_public_key, settings.registry_signing_key
        # An operator holding the signing key verifies with it too: a change is never built on a record it refuses.
        verifier = Verifier.load(public) if public else Signer.load(signing).verifier() if signing else None
        return cls(ControlTopics(settings.topic_models, settings.topic_figures), verifier, settings.budget_chat_p99_ms)

    def apply(self, record: ConsumerRecord[bytes, bytes], *, live: bool = False) -> bool:
        """Take one record in; True when it changed the registry. `live`: read as it was written (gates apply)."""
        key = (record.key or b"").decode(errors="replace")
        try:
            if record.topic == self.topics.registry and key == REGISTRY_KEY and record.value is not None:
                return self._registry(record, record.value, live)
            if record.topic == self.topics.figures and key.startswith(FIGURES_PREFIX):
                worker = key.removeprefix(FIGURES_PREFIX)
                self.arrived[worker] = time.monotonic()
                if record.value is None:
                    self.figures.pop(worker, None)
                else:
                    report = WorkerFigures.model_validate_json(record.value)
                    self.figures[worker] = report
                    self.recent.setdefault(worker, deque(maxlen=RECENT_REPORTS)).append(report)
        except ValidationError as exc:
            self._refuse("unreadable", record, f"{exc.errors()[0]}")
        except Exception as exc:  # whatever a record holds, it must not stop the worker
            self._refuse("unreadable", record, f"{type(exc).__name__}: {exc}")
        return False

    def _registry(self, record: ConsumerRecord[bytes, bytes], value: bytes, live: bool) -> bool:
        if self.verifier is not None and not self.verifier.verified(record.key or b"", value, record.headers):
            self._refuse("unsigned", record, "not signed with the operators' key (HELPSTREAM_REGISTRY_PUBLIC_KEY)")
            return False
        registry = Registry.model_validate_json(value)
        if registry.revision < self.registry.revision:
            return False
        if live:
            why = refusal(self.registry, registry, self.figures_at, self.budget_chat_p99_ms)
            if why is not None:
                self._refuse("gates", record, why)
                return False
        self.registry = registry
        return True

    def silent_s(self) -> dict[str, float]:
        """Seconds since a figures record of each worker arrived."""
        now = time.monotonic()
        return {worker: now - at for worker, at in self.arrived.items()}

    def drop_deleted(self, silent: dict[str, float], after_s: float) -> None:
        """Forget workers whose report was deleted more than `after_s` ago (`silent`, as `silent_s` gives it): no
        promote still on its way was judged with their recent reports. A tombstone of a worker never seen otherwise
        goes too."""
        for worker in [w for w in self.arrived if w not in self.figures and silent.get(w, 0.0) > after_s]:
            self.recent.pop(worker, None)
            del self.arrived[worker]

    def figures_at(self, at: datetime) -> list[WorkerFigures]:
        """Each worker's last report made at or before `at`."""
        found = []
        for reports in self.recent.values():
            before = [r for r in reports if r.at <= at]
            if before:
                found.append(before[-1])
        return found

    def _refuse(self, kind: str, record: ConsumerRecord[bytes, bytes], why: str) -> None:
        self.refused[kind] += 1
        logger.warning("%s record at offset %s not followed (%s): %s", record.topic, record.offset, kind, why)


async def _read_to_end(consumer: AIOKafkaConsumer, state: ControlState) -> None:
    partitions = state.topics.partitions()
    ends = await consumer.end_offsets(partitions)
    while [p for p in partitions if await consumer.position(p) < ends[p]]:
        for records in (await consumer.getmany(*partitions, timeout_ms=1000)).values():
            for record in records:
                state.apply(record)


def _consumer(kafka: KafkaConnection) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)


def _producer(kafka: KafkaConnection) -> AIOKafkaProducer:
    return AIOKafkaProducer(**kafka.producer_options())


async def read_control(kafka: KafkaConnection, settings: Settings) -> ControlState:
    """The registry and the workers' figures as the control topics hold them now."""
    consumer = _consumer(kafka)
    await start_or_explain(consumer, kafka)
    try:
        state = ControlState.of(settings)
        partitions = state.topics.partitions()
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        await _read_to_end(consumer, state)
        return state
    finally:
        await consumer.stop()


async def write_registry(kafka: KafkaConnection, settings: Settings, registry: Registry) -> None:
    """The registry record, signed with `HELPSTREAM_REGISTRY_SIGNING_KEY` when one is set."""
    producer = _producer(kafka)
    await start_or_explain(producer, kafka)
    key, value = REGISTRY_KEY.encode(), encode(registry)
    signing = settings.registry_signing_key
    try:
        headers = Signer.load(signing).headers(key, value) if signing is not None else None
        await producer.send_and_wait(settings.topic_models, value, key=key, partition=0, headers=headers)
    finally:
        await producer.stop()


class ControlChannel(Service):
    """Started before the models: `registry` is the topic's latest record by then, seeded if it had none."""

    def __init__(
        self,
        kafka: KafkaConnection,
        state: ControlState,
        worker_id: str,
        seed_ref: Callable[[], ModelRef],
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._kafka = kafka
        self.worker_id = worker_id
        self._seed_ref = seed_ref
        self.control = state
        self._listeners: list[RegistryListener] = []
        self._starters: list[StartListener] = []
        self._figures: Callable[[], WorkerFigures | None] | None = None
        self._read_at_start = False
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    @property
    def registry(self) -> Registry:
        return self.control.registry

    def on_registry(self, listener: RegistryListener) -> None:
        self._listeners.append(listener)

    def on_read(self, listener: StartListener) -> None:
        """Called once the topics are read at start, with the registry and this worker's last report (from a run
        before under the same worker id), before this run publishes its own."""
        self._starters.append(listener)

    def publish_figures_with(self, figures: Callable[[], WorkerFigures | None]) -> None:
        """`figures` gives this worker's report, None while it has none to make (the report before stands). Called
        only once the topics were read at start and `on_read` told, so a report can carry the votes of the one
        before."""
        self._figures = figures

    async def on_start(self) -> None:
        self._consumer = _consumer(self._kafka)
        self._producer = _producer(self._kafka)
        await start_or_explain(self._consumer, self._kafka)
        await start_or_explain(self._producer, self._kafka)
        topics = self.control.topics
        self._consumer.assign(topics.partitions())
        await self._consumer.seek_to_beginning(*topics.partitions())
        await _read_to_end(self._consumer, self.control)
        seeded = seed(self.control.registry, self._seed_ref())
        if seeded is not None:
            await self._seed(seeded)
        for listener in self._starters:
            listener(self.registry, self.control.figures.get(self.worker_id))
        self._read_at_start = True
        logger.info(
            "model registry revision %s: active %s, previous %s, candidates %s",
            self.registry.revision,
            self.registry.active.model_id if self.registry.active else None,
            self.registry.previous.model_id if self.registry.previous else None,
            [m.model_id for m in self.registry.candidates],
        )

    async def _seed(self, seeded: Registry) -> None:
        """An empty registry: this worker's `HELPSTREAM_MODEL` answers. Published when workers may write the
        registry; with signed records (or ACLs that keep workers out) it stays this worker's until an operator
        writes one."""
        assert self._consumer is not None and self._producer is not None
        if self.control.verifier is None:
            try:
                await self._producer.send_and_wait(
                    self.control.topics.registry, encode(seeded), key=REGISTRY_KEY.encode(), partition=0
                )
            except TopicAuthorizationFailedError:
                logger.info("this worker may not write the registry topic: an operator's first change seeds it")
            else:
                logger.info("the model registry was empty: seeded with %s", seeded.active)
                # Another worker may have seeded at the same moment: whichever record is last is the registry.
                await _read_to_end(self._consumer, self.control)
                return
        self.control.registry = seeded

    async def report_now(self) -> None:
        """This worker's report, sent and acknowledged now: a stopping worker's last, called while its models still
        answer (votes cast since the report before would otherwise be lost with the run)."""
        try:
            await asyncio.wait_for(self._send_figures(wait=True), FINAL_REPORT_S)
        except Exception as exc:
            logger.warning("this worker's last figures were not published (%r): the report before stands", exc)

    async def on_stop(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()
        self._consumer = self._producer = None

    @Service.task
    async def _follow(self) -> None:
        while not self.should_stop:
            consumer = self._consumer
            if consumer is None:
                await asyncio.sleep(0.2)
                continue
            try:
                batches = await consumer.getmany(timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading the control topics failed; trying again in 1 s")
                await asyncio.sleep(1)
                continue
            for records in batches.values():
                for record in records:
                    if self.control.apply(record, live=True):
                        logger.info("model registry revision %s received", self.registry.revision)
                        for listener in self._listeners:
                            try:
                                listener(self.registry)
                            except Exception:
                                logger.exception("following registry revision %s failed", self.registry.revision)

    @Service.task
    async def _publish(self) -> None:
        while not self.should_stop:
            await self.sleep(FIGURES_EVERY_S)
            if self.should_stop:  # the sleep ends at once on a stop: the last report is `report_now`'s
                break
            try:
                await self._send_figures(wait=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("publishing this worker's figures failed; trying again")

    @Service.task
    async def _forget(self) -> None:
        while not self.should_stop:
            await self.sleep(FORGET_EVERY_S)
            try:
                await self._forget_gone()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("deleting gone workers' figures failed; trying again")

    async def _forget_gone(self) -> None:
        """A tombstone for each gone worker's report that no longer counts (`forgettable`), decided on the topic
        read to its end (a tombstone deletes the latest report, which this worker must have seen) and never while
        this worker refuses the group's registry (its view of which votes hold is not the group's). Every worker
        sends them: the same tombstone twice is harmless, and a worker wrongly thought gone reports again within
        seconds."""
        consumer, producer, figures = self._consumer, self._producer, TopicPartition(self.control.topics.figures, 0)
        if consumer is None or producer is None or self.control.refused["gates"]:
            return
        highwater = consumer.highwater(figures)
        if highwater is None or await consumer.position(figures) < highwater:
            return
        silent = self.control.silent_s()
        self.control.drop_deleted(silent, FORGET_AFTER_S)
        for worker in forgettable(self.control.figures, self.registry, silent, self.worker_id, FORGET_AFTER_S):
            await producer.send(figures.topic, None, key=(FIGURES_PREFIX + worker).encode(), partition=0)
            logger.info(
                "worker %s's last figures deleted: silent for %.0f s, none of its votes counts", worker, silent[worker]
            )

    async def _send_figures(self, *, wait: bool) -> None:
        """This worker's report, when it has one to make; `wait` until the broker has it."""
        if self._figures is None or self._producer is None or not self._read_at_start:
            return
        figures = self._figures()
        if figures is None:
            return
        key = (FIGURES_PREFIX + self.worker_id).encode()
        send = self._producer.send_and_wait if wait else self._producer.send
        await send(self.control.topics.figures, encode(figures), key=key, partition=0)
