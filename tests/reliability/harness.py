"""Load and accounting for the reliability suite: chats produced at a steady rate in a thread, and every
recommendation and dead letter read back in another, so each fault ends with a full account of every chat."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from streams.clients.kafka import KafkaConnection
from streams.local.worker import WorkerProcess
from streams.settings import Settings, child_env
from tests.integration.clients import now, options, produce_json, search
from tests.services import wait_until


@dataclass
class Account:
    """What became of every chat sent: the suite's figures for one fault."""

    fault: str
    sent: int
    recommended: int
    dead_lettered: int
    lost: int
    duplicates: int
    longest_stall_s: float
    recover_s: float | None = None
    lost_keys: list[str] = field(default_factory=list)

    def row(self) -> tuple[str, str]:
        recover = "" if self.recover_s is None else f", first recommendation {self.recover_s:.1f} s after the fault"
        if self.lost_keys:
            recover += f"; lost {', '.join(self.lost_keys[:8])}{', ...' if len(self.lost_keys) > 8 else ''}"
        return (
            f"reliability: {self.fault}",
            f"sent {self.sent}, recommended {self.recommended}, dead-lettered {self.dead_lettered}, "
            f"lost {self.lost}, duplicates {self.duplicates}; longest stall {self.longest_stall_s:.1f} s{recover}",
        )


class Traffic:
    """`chat.started` events at `rate` per second in a thread, keyed `<run>-<n>`, until `stop()`, which fails if the
    broker refused any of them (so a refused send never passes for a lost chat). Where each landed (partition,
    offset) is kept, to find a lost one in the workers' logs. One a failed test left running is stopped by
    `halt_all`, so it never sends on through the tests after it."""

    _running: ClassVar[set[Traffic]] = set()

    def __init__(
        self, settings: Settings, run: str, rate: float, text: str | list[str] = "my card still has not arrived"
    ) -> None:
        self._settings = settings
        self._run = run
        self._rate = rate
        self._texts = [text] if isinstance(text, str) else text
        self._stop = threading.Event()
        self.sent: list[str] = []
        self.placed: dict[str, tuple[int, int]] = {}
        self.resent: list[str] = []
        self.sent_at: dict[str, float] = {}  # monotonic, as the outcomes' receipts
        self.acked_at: dict[str, float] = {}  # when Kafka acknowledged it: from then on the wait is helpstream's
        self._failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._run_thread, daemon=True)

    def start(self) -> Traffic:
        Traffic._running.add(self)
        self._thread.start()
        return self

    def stop(self) -> list[str]:
        self._halt(120)
        if self._failed:
            raise RuntimeError("the load generator's sends failed") from self._failed[0]
        if self._thread.is_alive():
            raise TimeoutError("the load generator did not finish its sends in 120 s")
        return list(self.sent)

    def _halt(self, timeout_s: float) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            Traffic._running.discard(self)

    @classmethod
    def halt_all(cls) -> list[str]:
        """Stops every generator still sending (a test failed before its `stop`); the runs of those whose thread
        still runs after as long as `stop` allows (their sends waiting on brokers that are gone)."""
        for traffic in list(cls._running):
            traffic._halt(120)
        return [traffic._run for traffic in cls._running]

    def _run_thread(self) -> None:
        try:
            asyncio.run(self._produce())
        except BaseException as exc:
            self._failed.append(exc)

    async def _produce(self) -> None:
        async with AIOKafkaProducer(**KafkaConnection.of(self._settings).producer_options(), linger_ms=2) as producer:
            started, confirming = time.monotonic(), []
            while not self._stop.is_set():
                n = len(self.sent)
                await asyncio.sleep(max(0.0, started + n / self._rate - time.monotonic()))
                chat_id = f"{self._run}-{n}"
                text = self._texts[n % len(self._texts)]  # chat `<run>-<n>` says texts[n % len(texts)]
                value = orjson.dumps({"chat_id": chat_id, "text": text, "created_at": now()})
                self.sent_at[chat_id] = time.monotonic()
                delivery = await producer.send(self._settings.topic_chat, key=chat_id.encode(), value=value)
                confirming.append(asyncio.ensure_future(self._confirm(producer, chat_id, value, delivery)))
                self.sent.append(chat_id)
            await asyncio.gather(*confirming)

    async def _confirm(self, producer: AIOKafkaProducer, chat_id: str, value: bytes, delivery: Any) -> None:
        """A send the cluster could not acknowledge in time (its partition without a leader or in-sync replicas
        for longer than the request timeout) is sent again, as a chat platform does; `resent` counts them."""
        try:
            record = await delivery
        except KafkaError:
            self.resent.append(chat_id)
            record = await producer.send_and_wait(self._settings.topic_chat, key=chat_id.encode(), value=value)
        self.acked_at[chat_id] = time.monotonic()
        self.placed[chat_id] = (record.partition, record.offset)


@dataclass
class Outcomes:
    """Reads `recommendations` and the dead-letter topic from the start, in a thread: receipts per key."""

    settings: Settings
    recommended: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    dead_lettered: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # Every recommendation as (partition, offset, value): what a test of its contents reads.
    recommendations: list[tuple[int, int, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._consume()), daemon=True)

    def __enter__(self) -> Outcomes:
        self._thread.start()
        if not self._ready.wait(60):
            raise TimeoutError("the outcome reader did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _consume(self) -> None:
        topics = {
            self.settings.topic_recommendations: self.recommended,
            self.settings.topic_dead_letter: self.dead_lettered,
        }
        consumer = AIOKafkaConsumer(
            *topics,
            **options(self.settings.broker),
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        self._ready.set()
        try:
            while not self._stop.is_set():
                for tp, messages in (await consumer.getmany(timeout_ms=100)).items():
                    with self._lock:
                        for message in messages:
                            topics[tp.topic][(message.key or b"").decode(errors="replace")].append(time.monotonic())
                            if tp.topic == self.settings.topic_recommendations and message.value is not None:
                                self.recommendations.append((tp.partition, message.offset, message.value))
        finally:
            await consumer.stop()

    def values(self) -> list[tuple[int, int, bytes]]:
        with self._lock:
            return list(self.recommendations)

    def settled(self, keys: list[str]) -> bool:
        with self._lock:
            return all(key in self.recommended or key in self.dead_lettered for key in keys)

    def wait_settled(self, keys: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.settled(keys) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # late duplicates still count

    def first_recommendation_after(self, moment: float) -> float | None:
        with self._lock:
            later = [t for times in self.recommended.values() for t in times if t > moment]
        return min(later) - moment if later else None

    def longest_wait(self, keys: list[str], sent_at: dict[str, float]) -> tuple[float, str]:
        """The longest any of `keys` waited from its send to its first recommendation, and which chat it was."""
        with self._lock:
            waits = [(min(self.recommended[key]) - sent_at[key], key) for key in keys if self.recommended.get(key)]
        return max(waits, default=(0.0, ""))

    def longest_stall(self, keys: list[str]) -> float:
        """The longest time without a recommendation for any of `keys`, from the first to the last."""
        with self._lock:
            times = sorted(t for key in keys for t in self.recommended.get(key, []))
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    def account(
        self,
        fault: str,
        sent: list[str],
        recover_from: float | None = None,
        placed: dict[str, tuple[int, int]] | None = None,
    ) -> Account:
        stall = self.longest_stall(sent)
        with self._lock:
            recommended = [key for key in sent if key in self.recommended]
            dead = [key for key in sent if key in self.dead_lettered and key not in self.recommended]
            duplicates = sum(len(self.recommended.get(key, [])) + len(self.dead_lettered.get(key, [])) - 1
                             for key in recommended + dead)  # fmt: skip
        return Account(
            fault=fault,
            sent=len(sent),
            recommended=len(recommended),
            dead_lettered=len(dead),
            lost=len(sent) - len(recommended) - len(dead),
            duplicates=duplicates,
            longest_stall_s=stall,
            recover_s=None if recover_from is None else self.first_recommendation_after(recover_from),
            lost_keys=[
                key + ("" if placed is None or key not in placed else " (partition {}, offset {})".format(*placed[key]))
                for key in sent
                if key not in self.recommended and key not in self.dead_lettered
            ],
        )


def read_compacted(settings: Settings, topic: str, timeout_s: float = 60) -> dict[bytes, bytes | None]:
    """A compacted topic of one partition (the table's changelog, the registry): the last value of each key, read
    to its end from the partition's leader."""

    async def read() -> dict[bytes, bytes | None]:
        consumer = AIOKafkaConsumer(**options(settings.broker), group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            state: dict[bytes, bytes | None] = {}
            while await consumer.position(partition) < end:
                for records in (await consumer.getmany(partition, timeout_ms=500)).values():
                    state.update((record.key or b"", record.value) for record in records)
            return state
        finally:
            await consumer.stop()

    return asyncio.run(asyncio.wait_for(read(), timeout_s))


def helpstream(settings: Settings, *args: str, timeout_s: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def report(settings: Settings) -> dict[str, Any]:
    listed = helpstream(settings, "model", "list", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    return dict(json.loads(listed.stdout))


def entry(listing: dict[str, Any], model_id: str) -> dict[str, Any]:
    return next(m for m in listing["models"] if m["model_id"] == model_id)


class EditProbe:
    """A CMS edit a test sends right after a fault or behind a bulk import, and its time to searchable: a new help
    article that no other item outranks for its query."""

    QUERY = "can I rent a safe deposit box for my jewellery"
    GIVE_UP_S = 180

    def __init__(self, settings: Settings, name: str, queries: int = 0) -> None:
        """`queries` example queries make it as large as a typical saved response (the demo's have about 110)."""
        self._settings = settings
        self._queries = queries
        self.content_id = f"probe_{name}_{uuid.uuid4().hex[:6]}"
        self.sent_at = 0.0
        self.accepted_s = 0.0
        self.resent = 0

    def send(self) -> EditProbe:
        article = {"content_id": self.content_id, "kind": "help_article", "op": "upsert", "version": 1,
                   "title": "Safe deposit boxes",
                   "body": "Rent a safe deposit box in a branch vault for jewellery, documents and other valuables.",
                   "example_queries": [f"renting a safe deposit box, question {i}" for i in range(self._queries)],
                   "updated_at": now()}  # fmt: skip
        self.sent_at = time.monotonic()
        while True:
            try:
                produce_json(
                    KafkaConnection.of(self._settings), self._settings.topic_content, [(self.content_id, article)]
                )
                break
            except KafkaError:
                # A CMS sends again what Kafka did not acknowledge in time (a producer's batch expires after its
                # request timeout while the partition has no reachable leader); the edit is an idempotent upsert.
                if time.monotonic() - self.sent_at > self.GIVE_UP_S:
                    raise
                self.resent += 1
        self.accepted_s = time.monotonic() - self.sent_at  # the CMS's wait for Kafka (a new leader, in-sync replicas)
        return self

    def searchable_s(self, worker: WorkerProcess, timeout_s: float) -> float:
        """Seconds from the send until the worker's `/search` finds it (the worker may still be starting), Kafka's
        acknowledgement of the send (`accepted_s`) included."""

        def found() -> bool:
            try:
                status, body = search(worker, self.QUERY, k=3)
            except OSError:
                return False
            return status == 200 and self.content_id in [r["content_id"] for r in body["results"]]

        wait_until(found, timeout_s, 0.05)
        return time.monotonic() - self.sent_at
