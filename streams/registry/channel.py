"""The compacted control topic: the registry record and every worker's figures, read, followed and written.

Workers run `ControlChannel`: before the models load it reads the topic to its end (seeding an empty registry
with `HELPSTREAM_MODEL`), then follows it live and publishes this worker's figures every few seconds. The
`helpstream model` commands use `read_control` and `write_registry`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from mode import Service
from pydantic import ValidationError

from schemas import encode
from schemas.registry import FIGURES_PREFIX, REGISTRY_KEY, ModelRef, Registry, WorkerFigures
from streams.clients.kafka import KafkaConnection, start_or_explain
from streams.registry.state import seed

logger = logging.getLogger(__name__)

FIGURES_EVERY_S = 2.0
RegistryListener = Callable[[Registry], None]


@dataclass
class ControlState:
    """The latest registry and the latest figures of each worker."""

    registry: Registry = field(default_factory=Registry)
    figures: dict[str, WorkerFigures] = field(default_factory=dict)

    def apply(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """Take one record in; True when it changed the registry."""
        key = (record.key or b"").decode()
        try:
            if key == REGISTRY_KEY and record.value is not None:
                registry = Registry.model_validate_json(record.value)
                if registry.revision >= self.registry.revision:
                    self.registry = registry
                    return True
            elif key.startswith(FIGURES_PREFIX):
                worker = key.removeprefix(FIGURES_PREFIX)
                if record.value is None:
                    self.figures.pop(worker, None)
                else:
                    self.figures[worker] = WorkerFigures.model_validate_json(record.value)
        except ValidationError as exc:
            logger.warning("unreadable %s record at offset %s ignored: %s", key, record.offset, exc.errors()[0])
        return False


async def _read_to_end(consumer: AIOKafkaConsumer, partition: TopicPartition, state: ControlState) -> None:
    end = (await consumer.end_offsets([partition]))[partition]
    while await consumer.position(partition) < end:
        for records in (await consumer.getmany(partition, timeout_ms=1000)).values():
            for record in records:
                state.apply(record)


def _consumer(kafka: KafkaConnection) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)


def _producer(kafka: KafkaConnection) -> AIOKafkaProducer:
    return AIOKafkaProducer(**kafka.client_options(), acks="all", enable_idempotence=False)


async def read_control(kafka: KafkaConnection, topic: str) -> ControlState:
    """The registry and the workers' figures as the control topic holds them now."""
    consumer = _consumer(kafka)
    await start_or_explain(consumer, kafka)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        state = ControlState()
        await _read_to_end(consumer, partition, state)
        return state
    finally:
        await consumer.stop()


async def write_registry(kafka: KafkaConnection, topic: str, registry: Registry) -> None:
    producer = _producer(kafka)
    await start_or_explain(producer, kafka)
    try:
        await producer.send_and_wait(topic, encode(registry), key=REGISTRY_KEY.encode(), partition=0)
    finally:
        await producer.stop()


class ControlChannel(Service):
    """Started before the models: `registry` is the topic's latest record by then, seeded if it had none."""

    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        worker_id: str,
        seed_ref: Callable[[], ModelRef],
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._kafka = kafka
        self._topic = topic
        self.worker_id = worker_id
        self._seed_ref = seed_ref
        self.control = ControlState()
        self._listeners: list[RegistryListener] = []
        self._figures: Callable[[], WorkerFigures] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._partition = TopicPartition(topic, 0)

    @property
    def registry(self) -> Registry:
        return self.control.registry

    def on_registry(self, listener: RegistryListener) -> None:
        self._listeners.append(listener)

    def publish_figures_with(self, figures: Callable[[], WorkerFigures]) -> None:
        self._figures = figures

    async def on_start(self) -> None:
        self._consumer = _consumer(self._kafka)
        self._producer = _producer(self._kafka)
        await start_or_explain(self._consumer, self._kafka)
        await start_or_explain(self._producer, self._kafka)
        self._consumer.assign([self._partition])
        await self._consumer.seek_to_beginning(self._partition)
        await _read_to_end(self._consumer, self._partition, self.control)
        seeded = seed(self.control.registry, self._seed_ref())
        if seeded is not None:
            await self._producer.send_and_wait(self._topic, encode(seeded), key=REGISTRY_KEY.encode(), partition=0)
            logger.info("the model registry was empty: seeded with %s", seeded.active)
            # Another worker may have seeded at the same moment: whichever record is last is the registry.
            await _read_to_end(self._consumer, self._partition, self.control)
        logger.info(
            "model registry revision %s: active %s, previous %s, candidates %s",
            self.registry.revision,
            self.registry.active.model_id if self.registry.active else None,
            self.registry.previous.model_id if self.registry.previous else None,
            [m.model_id for m in self.registry.candidates],
        )

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
                logger.exception("reading the control topic failed; trying again in 1 s")
                await asyncio.sleep(1)
                continue
            for records in batches.values():
                for record in records:
                    if self.control.apply(record):
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
            if self._figures is None or self._producer is None:
                continue
            try:
                figures = self._figures()
                key = (FIGURES_PREFIX + self.worker_id).encode()
                await self._producer.send(self._topic, encode(figures), key=key, partition=0)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("publishing this worker's figures failed; trying again")
