"""What other teams run against helpstream: a chat platform and CMS producing plain JSON, an agent UI consuming."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import urllib.parse
from collections.abc import Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.clients.http import get_json
from streams.clients.kafka import KafkaConnection
from streams.clients.publish import read_content
from streams.demo.datasets import demo_content
from streams.local.worker import WorkerProcess
from streams.settings import Settings

T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on a thread of its own when this thread already runs a loop (Playwright's sync API does)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def options(kafka: str | KafkaConnection) -> dict[str, Any]:
    """aiokafka options for a plain bootstrap string or a secured connection."""
    return (KafkaConnection(kafka) if isinstance(kafka, str) else kafka).client_options()


def produce(kafka: str | KafkaConnection, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> None:
    async def send() -> None:
        async with AIOKafkaProducer(**options(kafka), acks="all") as producer:
            futures = [await producer.send(topic, key=key, value=value) for key, value in records]
            await asyncio.gather(*futures)

    run_coroutine(send())


def produce_json(kafka: str | KafkaConnection, topic: str, events: Iterable[tuple[str, dict[str, Any]]]) -> None:
    produce(kafka, topic, ((key.encode(), orjson.dumps(event)) for key, event in events))


def consume_keys(kafka: str | KafkaConnection, topic: str, keys: Iterable[bytes], timeout_s: float) -> dict[bytes, Any]:
    """Read `topic` from the beginning, as the agent UI would, until a message of every key in `keys` arrived
    (or the timeout); returns the last message of each of those keys. Messages of other keys are passed over,
    so tests sharing a topic never see each other's events."""
    wanted = set(keys)

    async def read() -> dict[bytes, Any]:
        consumer = AIOKafkaConsumer(
            topic, **options(kafka), group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        found: dict[bytes, Any] = {}
        deadline = time.monotonic() + timeout_s
        try:
            while not wanted <= found.keys() and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    found.update((m.key, m) for m in batch if m.key in wanted)
        finally:
            await consumer.stop()
        return found

    return run_coroutine(read())


def search(worker: WorkerProcess, q: str, **params: Any) -> tuple[int, Any]:
    return get_json(f"{worker.url}/search?{urllib.parse.urlencode({'q': q, **params})}")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chat(chat_id: str, text: str) -> tuple[str, dict[str, Any]]:
    return chat_id, {"chat_id": chat_id, "customer_id": "u-1", "text": text, "created_at": now()}


def demo_items() -> int:
    return len(read_content(demo_content()))


def publish_demo_content(settings: Settings, items: int | None = None) -> None:
    """The CMS export (its first `items` lines), produced line for line as the CMS would (plain JSON, keyed by
    content_id)."""
    with demo_content().open("rb") as f:
        lines = [line for line in f if line.strip()][:items]
    produce(
        KafkaConnection.of(settings),
        settings.topic_content,
        ((orjson.loads(line)["content_id"].encode(), line) for line in lines),
    )


def index_holds(worker: WorkerProcess, items: int) -> bool:
    status, body = worker.health()
    return status == 200 and body["index"]["items"] == items
