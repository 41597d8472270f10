"""What other teams run against helpstream: a chat platform and CMS producing plain JSON, an agent UI consuming."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.worker_process import WorkerProcess, get_json


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> None:
    async def run() -> None:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all") as producer:
            futures = [await producer.send(topic, key=key, value=value) for key, value in records]
            await asyncio.gather(*futures)

    asyncio.run(run())


def produce_json(bootstrap: str, topic: str, events: Iterable[tuple[str, dict[str, Any]]]) -> None:
    produce(bootstrap, topic, ((key.encode(), orjson.dumps(event)) for key, event in events))


def consume(bootstrap: str, topic: str, count: int, timeout_s: float) -> list[Any]:
    """Read `topic` from the beginning until `count` messages arrived (or the timeout): the agent UI's view."""

    async def run() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        messages: list[Any] = []
        deadline = time.monotonic() + timeout_s
        try:
            while len(messages) < count and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    messages.extend(batch)
        finally:
            await consumer.stop()
        return messages

    return asyncio.run(run())


def search(worker: WorkerProcess, q: str, **params: Any) -> tuple[int, Any]:
    return get_json(f"{worker.url}/search?{urllib.parse.urlencode({'q': q, **params})}")
