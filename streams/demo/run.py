"""Runs `helpstream demo`: the whole pipeline on the embedded broker with the Banking77 demo content and chats."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from schemas import Recommendation
from streams.clients.kafka import KafkaConnection
from streams.clients.publish import publish_content, read_chats, read_content
from streams.clients.replay import ReplayResult, percentile, replay
from streams.demo.datasets import demo_chats, demo_content
from streams.local.tansu import EmbeddedBroker
from streams.local.worker import WorkerProcess
from streams.settings import Settings

TANSU_FETCH_WAIT_MS = 5


def stage(text: str) -> None:
    print(f"==> {text}", flush=True)


def _show(rec: Recommendation) -> None:
    top = rec.items[0] if rec.items else None
    shown = f"{top.score:.2f} {top.content_id}" if top else "(no content indexed)"
    others = ", ".join(item.content_id for item in rec.items[1:])
    print(f"  {rec.chat_id:<16} {rec.latency_ms:7.1f} ms  {shown}  | {others}")


def summary(result: ReplayResult) -> str:
    latencies = [rec.latency_ms for rec in result.received.values()]
    rows = [
        ("chats published", f"{len(result.sent)}"),
        ("recommendations received", f"{len(result.received)}"),
        ("top-1 matches the chat's intent", f"{result.accuracy(1):.1%}"),
        ("intent among the top 3", f"{result.accuracy(3):.1%}"),
        ("latency_ms p50 / p99", f"{percentile(latencies, 50):.1f} / {percentile(latencies, 99):.1f}"),
        (
            "receipt by the UI p50 / p99 ms",
            f"{percentile(result.receipt_ms, 50):.1f} / {percentile(result.receipt_ms, 99):.1f}",
        ),
        ("rate", f"{len(result.received) / result.seconds:.1f} chats/s" if result.seconds else "-"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def run_demo(settings: Settings, *, once: bool, chats: int, rate: float) -> int:
    stage(
        f"agent console: {settings.internal_url}/console   help screen: {settings.public_url}/help   "
        "(open them now: the chats show up live)"
    )
    with contextlib.ExitStack() as stack:
        bootstrap, fetch_wait_ms = settings.broker, settings.fetch_wait_ms
        if not bootstrap:
            stage("starting the embedded Tansu broker (no HELPSTREAM_BROKER configured)")
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
            # Tansu answers a fetch only when its wait is over, even with data waiting: keep the wait short.
            fetch_wait_ms = fetch_wait_ms or TANSU_FETCH_WAIT_MS
        worker_settings = settings.model_copy(update={"broker": bootstrap, "fetch_wait_ms": fetch_wait_ms})
        kafka = KafkaConnection.of(worker_settings)

        stage(f"starting a worker on {bootstrap} (log: {settings.data_dir / 'demo-worker.log'})")
        worker = WorkerProcess(worker_settings, settings.data_dir / "demo-worker.log").start()
        stack.callback(worker.stop)
        print(f"    ready in {worker.wait_ready(120):.1f} s: {worker.url}/healthz answers 200")

        content = read_content(demo_content())
        stage(f"publishing {len(content)} demo content items to {settings.topic_content}")
        started = time.monotonic()
        asyncio.run(publish_content(kafka, settings.topic_content, content))
        health = worker.wait_for_items(len(content), timeout_s=300)
        print(
            f"    indexed {health['index']['items']} items / {health['index']['vectors']} vectors "
            f"in {time.monotonic() - started:.1f} s"
        )
        for warning in health.get("warnings", []):
            print(f"    WARNING: {warning}")

        sample = random.Random(77).sample(read_chats(demo_chats()), min(chats, 996))
        stage(f"replaying {len(sample)} held-out Banking77 chats at {rate:g}/s; each line: chat, latency, top-3")
        result = asyncio.run(replay(kafka, worker_settings, sample, rate, _show))
        stage("summary")
        print(summary(result))
        if len(result.received) < len(result.sent):
            print(f"helpstream: only {len(result.received)} of {len(result.sent)} recommendations arrived")
            return 1
        if once:
            return 0
        stage(f'serving {worker.public_url}/search?q=... (try `helpstream search "card not arrived"`); Ctrl-C stops')
        with contextlib.suppress(KeyboardInterrupt):
            assert worker.process is not None
            worker.process.wait()
    return 0
