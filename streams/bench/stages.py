"""Bench stages that drive a running worker through the broker and HTTP, as other teams' clients do."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import ContentEntry, ContentUpdated, encode
from schemas.content_entry import ModelVectors
from schemas.registry import Registry
from streams.bench.breakdown import breakdown, samples_of
from streams.bench.cpu_share import CpuShares
from streams.bench.measure import percentiles
from streams.clients.kafka import KafkaConnection
from streams.clients.publish import LabelledChat, publish_chats
from streams.clients.replay import replay
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from streams.topology.topics import content_changelog

FRESHNESS_ITEM = "help_fees"
FRESHNESS_QUERY = "what fees do you charge"
LOAD_GENERATOR = "load generator"  # this process: it produces the chats and reads the recommendations


def chats_for(chats: list[LabelledChat], count: int) -> list[LabelledChat]:
    return list(itertools.islice(itertools.cycle(chats), count))


def warm_broker(settings: Settings, chats: list[LabelledChat], rate: float) -> None:
    """Chats through the broker at `rate`, read back by a plain consumer, before any stage is measured: a fresh
    broker's JVM spent 0.55 of a core at 110-220 chats/s until it had compiled its hot paths, 0.35 after."""

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            settings.topic_chat,
            **KafkaConnection.of(settings).client_options(),
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            sent = await publish_chats(
                KafkaConnection.of(settings), settings.topic_chat, chats, rate=rate, progress=False
            )
            seen = 0
            while seen < len(sent) and (batches := await consumer.getmany(timeout_ms=2000)):
                seen += sum(len(messages) for messages in batches.values())
        finally:
            await consumer.stop()

    asyncio.run(run())


Pids = dict[str, int | None]


def capacity(settings: Settings, chats: list[LabelledChat], pids: Pids | None = None) -> dict[str, Any]:
    """A burst of chats as fast as the producer goes: chats/s from the first produce to the last receipt, and the
    CPU share of each process in `pids` (and of this one, the load generator) meanwhile."""
    with CpuShares(_with_generator(pids)) as cpu:
        result = asyncio.run(replay(KafkaConnection.of(settings), settings, chats, None))
    received = len(result.received)
    return {
        "chats": received,
        "seconds": round(result.last_receipt_s, 2),
        "chats_per_s": round(received / result.last_receipt_s, 1),
        "cpu": cpu.result,
    }


def offered_load(
    settings: Settings, chats: list[LabelledChat], rate: float, pids: Pids | None = None
) -> dict[str, Any]:
    """Chats at a constant `rate`: end-to-end latency from `created_at` to receipt by a plain consumer; where the
    p50 and the p99 go (from the recommendations' `timings`, when the worker has them on); CPU shares."""
    with CpuShares(_with_generator(pids)) as cpu:
        result = asyncio.run(replay(KafkaConnection.of(settings), settings, chats, rate))
    return {
        "rate": round(rate, 1),
        "received": len(result.received),
        **percentiles(result.receipt_ms),
        "breakdown": breakdown(samples_of(result.received, result.delivery_ms)),
        "cpu": cpu.result,
    }


def _with_generator(pids: Pids | None) -> Pids:
    return {**(pids or {}), LOAD_GENERATOR: os.getpid()}


async def _search_json(session: aiohttp.ClientSession, worker: WorkerProcess, params: dict[str, str]) -> Any:
    async with session.get(f"{worker.url}/search", params=params) as response:
        return await response.json()


async def _freshness(
    settings: Settings, worker: WorkerProcess, item: ContentUpdated, edits: int, every_s: float
) -> list[float]:
    seen: list[float] = []
    params = {"q": FRESHNESS_QUERY, "k": "5", "kind": item.kind or "help_article"}
    async with (
        AIOKafkaProducer(**KafkaConnection.of(settings).client_options(), acks="all") as producer,
        aiohttp.ClientSession() as session,
    ):
        for i in range(edits):
            title = f"{item.title} (revision {i})"
            edit = item.model_copy(
                update={"version": item.version + 1000 + i, "title": title, "updated_at": datetime.now(UTC)}
            )
            started = time.perf_counter()
            await producer.send_and_wait(settings.topic_content, encode(edit), key=item.content_id.encode())
            while time.perf_counter() - started < 10:
                body = await _search_json(session, worker, params)
                if any(r["content_id"] == item.content_id and r["title"] == title for r in body["results"]):
                    seen.append((time.perf_counter() - started) * 1000)
                    break
                await asyncio.sleep(0.005)
            await asyncio.sleep(max(0.0, every_s - (time.perf_counter() - started)))
    return seen


def freshness(
    settings: Settings,
    worker: WorkerProcess,
    content: list[ContentUpdated],
    chats: list[LabelledChat],
    chat_rate: float,
    edits: int,
) -> dict[str, float]:
    """Content edits at a steady rate while chats flow: produce → visible in `/search`."""
    item = next(c for c in content if c.content_id == FRESHNESS_ITEM)

    async def run() -> list[float]:
        flowing = asyncio.create_task(replay(KafkaConnection.of(settings), settings, chats, chat_rate))
        seen = await _freshness(settings, worker, item, edits, every_s=0.5)
        await flowing
        return seen

    seen = asyncio.run(run())
    return {"edits": edits, "visible": len(seen), "chat_rate": round(chat_rate, 1), **percentiles(seen)}


def search_load(worker: WorkerProcess, queries: list[str], clients: int, seconds: float) -> dict[str, float]:
    """`clients` concurrent help-screen users, each asking its next query as soon as it has an answer."""

    async def client(
        session: aiohttp.ClientSession, offset: int, until: float, took: list[float], errors: list[float]
    ) -> None:
        for i in itertools.count(offset, clients):
            if time.perf_counter() >= until:
                return
            started = time.perf_counter()
            async with session.get(f"{worker.url}/search", params={"q": queries[i % len(queries)], "k": "5"}) as r:
                await r.read()
                (took if r.status == 200 else errors).append((time.perf_counter() - started) * 1000)

    async def run() -> tuple[list[float], list[float], float]:
        took: list[float] = []
        errors: list[float] = []
        started = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(client(session, c, started + seconds, took, errors) for c in range(clients)))
        return took, errors, time.perf_counter() - started

    took, errors, elapsed = asyncio.run(run())
    return {
        "clients": clients,
        "requests": len(took),
        "errors": len(errors),
        "requests_per_s": round(len(took) / elapsed, 1),
        **percentiles(took),
    }


def write_synthetic_table(settings: Settings, model: str, dimension: int, vectors: int, per_item: int = 10) -> None:
    """Fill the content-vectors changelog with `vectors` random unit vectors (no encoder involved)."""

    async def run() -> None:
        rng = np.random.default_rng(7)
        async with AIOKafkaProducer(
            **KafkaConnection.of(settings).client_options(), linger_ms=20, max_batch_size=1 << 20
        ) as producer:
            futures = []
            for i in range(vectors // per_item):
                rows = rng.standard_normal((per_item, dimension)).astype(np.float32)
                rows /= np.linalg.norm(rows, axis=1, keepdims=True)
                entry = ContentEntry(
                    content_id=f"synthetic-{i}",
                    version=1,
                    kind="help_article",
                    title=f"Synthetic article {i}",
                    text_hashes=[str(j) for j in range(per_item)],
                    vectors={model: ModelVectors.of(rows)},
                )
                key = orjson.dumps(entry.content_id)  # the table's JSON key serializer
                futures.append(await producer.send(content_changelog(settings), encode(entry), key=key))
            await asyncio.gather(*futures)

    asyncio.run(run())


def _change_registry(settings: Settings, change: Callable[[Registry], Registry]) -> None:
    """Read the registry, change it and write it back, as the `helpstream model` commands do."""
    from streams.registry.channel import read_control, write_registry

    async def run() -> None:
        kafka = KafkaConnection.of(settings)
        registry = (await read_control(kafka, settings)).registry
        await write_registry(kafka, settings, change(registry))

    asyncio.run(run())


def add_candidate(settings: Settings, worker: WorkerProcess, backend: str, items: int) -> str:
    """`helpstream model add` of the worker's own model on `backend`; returns its id once it covers `items`."""
    from streams.engine.models import model_ref
    from streams.registry import state

    ref = model_ref(settings.model, backend)
    _change_registry(settings, lambda registry: state.add(registry, ref))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        models = (worker.health()[1] or {}).get("models", {})
        if models.get(ref.model_id, {}).get("items", 0) >= items:
            return ref.model_id
        time.sleep(0.5)
    raise TimeoutError(f"the candidate {ref.model_id} did not cover {items} items in 600 s")


def retire(settings: Settings, model_id: str) -> None:
    from streams.registry import state

    _change_registry(settings, lambda registry: state.retire(registry, model_id))


def shuffled(chats: list[LabelledChat], seed: int = 3) -> list[LabelledChat]:
    out = list(chats)
    random.Random(seed).shuffle(out)
    return out
