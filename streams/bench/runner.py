"""Runs every bench stage in one go on this machine and writes the table, `bench.json` and the chart."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis

from index.backends import BACKENDS, Backend, available, model_id
from index.cpu import this_cpu
from index.models import resolve
from streams.bench import report, stages
from streams.bench.measure import peak_rss_mb
from streams.bench.timeline_cost import timeline_cost_us
from streams.clients.kafka import KafkaConnection
from streams.clients.publish import publish_chats, publish_content, read_chats, read_content
from streams.demo.datasets import demo_chats, demo_content
from streams.local.apache_kafka import apache_kafka, kafka_jars, kafka_version
from streams.local.ports import listener_ports
from streams.local.redis_server import redis_server
from streams.local.tansu import EmbeddedBroker
from streams.local.worker import WorkerProcess
from streams.settings import Settings, isolated
from streams.topology.admin import ensure_topics
from streams.topology.topics import topic_specs

LOADS = {"25%": 0.25, "50%": 0.5, "80%": 0.8}
WARM_UP_CHATS = 3000
WARM_UP_RATE = 250


@dataclass(frozen=True)
class Sizes:
    raw_texts: int
    singles: int
    naive_chats: int
    burst: int
    load_s: float
    edits: int
    search_s: float
    clients: int
    recovery: tuple[int, ...]


QUICK = Sizes(
    raw_texts=512,
    singles=100,
    naive_chats=300,
    burst=1500,
    load_s=8,
    edits=10,
    search_s=8,
    clients=8,
    recovery=(10_000, 100_000),
)
FULL = Sizes(
    raw_texts=2000,
    singles=300,
    naive_chats=1000,
    burst=5000,
    load_s=20,
    edits=30,
    search_s=20,
    clients=16,
    recovery=(10_000, 100_000),
)


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()

    def stage(self, text: str) -> None:
        self.done += 1
        print(f"[{self.done:>2}/{self.total}] {time.monotonic() - self.started:6.0f} s  {text}", flush=True)

    def note(self, text: str) -> None:
        print(f"{'':>20}{text}", flush=True)

    def skip(self, stages: int, text: str) -> None:
        """Counts `stages` that will not run, so the total still adds up, and says why."""
        self.done += stages
        self.note(text)


def scratch_settings(base: Settings, bootstrap: str, run: str, **overrides: Any) -> Settings:
    """`base` on `bootstrap` with topics and a consumer group of its own (created here), for one stage."""
    settings = isolated(base.model_copy(update={"broker": bootstrap, **overrides}), f"{run}-{uuid.uuid4().hex[:6]}")
    asyncio.run(ensure_topics(KafkaConnection.of(settings), topic_specs(settings)))
    return settings


@dataclass(frozen=True)
class Services:
    bootstrap: str
    broker: str  # what it is, for the report
    redis_url: str
    pids: dict[str, int]  # the processes started here, whose CPU share the stages report


@contextlib.contextmanager
def services(settings: Settings, workdir: Path, progress: Progress, *, own_redis: bool = False) -> Iterator[Services]:
    """The broker and Redis: configured ones, else started here and stopped after.

    `own_redis`: a fresh redis-server where one can be started, so no embedding is a hit of an earlier run."""
    pids: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        if settings.broker:
            bootstrap, broker = settings.broker, f"configured Kafka at {settings.broker}"
        elif shutil.which("java") and shutil.which("mvn"):
            jars = kafka_jars(settings.data_dir / "kafka-jars")
            (workdir / "kafka").mkdir()
            kafka = stack.enter_context(apache_kafka(jars, workdir / "kafka"))
            bootstrap, pids["broker"] = kafka.bootstrap, kafka.pid
            broker = f"Apache Kafka {kafka_version(jars)} (KRaft, started by the bench)"
        else:
            tansu = stack.enter_context(EmbeddedBroker())
            bootstrap = tansu.bootstrap
            if tansu.process is not None:
                pids["broker"] = tansu.process.pid
            broker = "embedded Tansu (no Java/Maven here: latency and recovery figures are Tansu's, not Kafka's)"
        startable = shutil.which("redis-server") is not None
        if not (own_redis and startable) and _answers(settings.redis_url):
            redis_url = settings.redis_url
        elif startable:
            (workdir / "redis").mkdir()
            running = stack.enter_context(redis_server(workdir / "redis"))
            redis_url, pids["redis"] = running.url, running.pid
        else:
            redis_url = "redis://127.0.0.1:1/0"  # nothing answers: workers use their in-process cache
        progress.note(f"broker: {broker}; redis: {redis_url}")
        yield Services(bootstrap, broker, redis_url, pids)


def _answers(redis_url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def run_child(module: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


class Bench:
    def __init__(self, settings: Settings, sizes: Sizes, out: Path) -> None:
        self.settings, self.sizes, self.out = settings, sizes, out
        self.chats = stages.shuffled(read_chats(demo_chats()))
        self.content = read_content(demo_content())
        self.default: Backend = settings.encoder
        # A model shipped or exported as ONNX has no torch backend: `HELPSTREAM_MODEL=minilm-l6` compares all three.
        model = resolve(settings.model)
        others = (b for b in BACKENDS if b != self.default and available(model, b))
        self.backends: list[Backend] = [self.default, *others]
        self.progress = Progress(total=4 + 2 * len(self.backends) + 3 + len(sizes.recovery))
        self.pids: stages.Pids = {}
        self.results: dict[str, Any] = {
            "quick": sizes == QUICK,
            "machine": this_cpu().as_dict(),
            "default_backend": self.default,
            "sizes": sizes.__dict__,
            "raw": {},
            "backends": {},
            "recovery": {},
        }

    def worker_settings(self, bootstrap: str, redis_url: str, backend: Backend) -> Settings:
        # Timings on: the breakdown reads them (their cost is measured on its own: `timeline_cost`).
        update = {
            "broker": bootstrap,
            "redis_url": redis_url,
            "encoder": backend,
            **listener_ports(),
            "recommendation_timings": True,
        }
        base = self.settings.model_copy(update=update)
        return isolated(base, f"bench-{uuid.uuid4().hex[:6]}")

    def start_worker(self, settings: Settings, name: str) -> WorkerProcess:
        worker = WorkerProcess(settings, self.out / f"{name}.log").start()
        worker.wait_ready(180)
        return worker

    def run(self) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="helpstream-bench-") as tmp:
            self.progress.stage("services")
            with services(self.settings, Path(tmp), self.progress) as running:
                bootstrap, redis_url = running.bootstrap, running.redis_url
                self.pids.update(running.pids)
                self.results["broker"] = running.broker
                self.raw()
                self.results["timeline_cost"] = timeline_cost_us()
                self.warm_broker(bootstrap)
                self.naive(bootstrap)
                for backend in self.backends:
                    self.pipeline(bootstrap, redis_url, backend)
                for size in self.sizes.recovery:
                    self.recovery(bootstrap, redis_url, size)
        default = self.results["backends"][self.default]["pipeline"]["chats_per_s"]
        self.results["pipeline"] = {"backend": self.default, "chats_per_s": default}
        self.results["latency"] = self.results["backends"][self.default]["latency"]
        self.results["ratios"] = {
            "pipeline_over_raw": round(default / self.results["raw"][self.default]["sentences_per_s"], 3),
            "pipeline_over_naive": round(default / self.results["naive"]["chats_per_s"], 2),
        }
        return self.results

    def raw(self) -> None:
        self.progress.stage(f"raw: the encoder alone, {self.sizes.raw_texts} chats per batch size, per backend")
        cache = str(self.settings.data_dir / "models")
        for backend in self.backends:
            sizes = (self.settings.inference_threads, self.sizes.raw_texts, self.sizes.singles)
            figures = run_child("streams.bench.raw", self.settings.model, backend, cache, *map(str, sizes))
            self.results["raw"][backend] = figures
            self.progress.note(f"{backend}: {figures['sentences_per_s']:.0f} sentences/s")

    def scratch_settings(self, bootstrap: str, stage: str) -> Settings:
        """Settings with topics of their own, created here, for a stage that runs no worker."""
        return scratch_settings(self.settings, bootstrap, f"bench-{stage}")

    def warm_broker(self, bootstrap: str) -> None:
        chats = stages.chats_for(self.chats, WARM_UP_CHATS)
        self.progress.stage(
            f"broker warm-up: {len(chats):,} chats at {WARM_UP_RATE}/s through a scratch topic, not measured"
        )
        stages.warm_broker(self.scratch_settings(bootstrap, "warm"), chats, WARM_UP_RATE)

    def naive(self, bootstrap: str) -> None:
        self.progress.stage(f"naive: a per-event aiokafka + torch consumer on {self.sizes.naive_chats} chats")
        chats = stages.chats_for(self.chats, self.sizes.naive_chats)
        settings = self.scratch_settings(bootstrap, "naive")
        asyncio.run(publish_chats(KafkaConnection.of(settings), settings.topic_chat, chats, rate=None, progress=False))
        self.results["naive"] = run_child(
            "streams.bench.naive", bootstrap, settings.topic_chat, settings.topic_recommendations, str(len(chats))
        )
        self.progress.note(f"{self.results['naive']['chats_per_s']:.0f} chats/s")

    def pipeline(self, bootstrap: str, redis_url: str, backend: Backend) -> None:
        self.progress.stage(f"pipeline ({backend}): worker, demo content, a burst of {self.sizes.burst} chats")
        settings = self.worker_settings(bootstrap, redis_url, backend)
        worker = self.start_worker(settings, f"worker-{backend}")
        try:
            asyncio.run(
                publish_content(KafkaConnection.of(settings), settings.topic_content, self.content, progress=False)
            )
            worker.wait_for_items(len(self.content), timeout_s=600)
            stages.capacity(settings, self.chats[:32])  # warm-up, not measured
            pids = self.worker_pids(worker)
            burst = stages.capacity(settings, stages.chats_for(self.chats, self.sizes.burst), pids)
            self.progress.note(f"{burst['chats_per_s']:.0f} chats/s")
            run: dict[str, Any] = {"pipeline": burst, "latency": {}}
            self.progress.stage(f"latency ({backend}): offered loads {', '.join(LOADS)} of that capacity")
            for name, share in LOADS.items():
                rate = share * burst["chats_per_s"]
                chats = stages.chats_for(self.chats, int(rate * self.sizes.load_s))
                run["latency"][name] = figures = stages.offered_load(settings, chats, rate, pids)
                self.progress.note(f"{name} = {rate:.0f} chats/s: {report.breakdown_line(figures)}")
            if backend == self.default:
                self.freshness_and_search(settings, worker, burst["chats_per_s"])
                self.shadow_cost(settings, worker, burst["chats_per_s"])
            run["encoder_calls"] = worker.metric("helpstream_encoder_calls_total")
            run["worker_peak_rss_mb"] = peak_rss_mb(worker.process.pid if worker.process else None)
            self.results["backends"][backend] = run
        finally:
            worker.stop()

    def worker_pids(self, worker: WorkerProcess) -> stages.Pids:
        return {**self.pids, "worker": worker.process.pid if worker.process else None}

    def freshness_and_search(self, settings: Settings, worker: WorkerProcess, capacity: float) -> None:
        self.progress.stage(f"freshness: {self.sizes.edits} content edits, 2 per second, chats at 50% load")
        chats = stages.chats_for(self.chats, int(0.5 * capacity * (self.sizes.edits * 0.5 + 2)))
        self.results["freshness"] = stages.freshness(
            settings, worker, self.content, chats, 0.5 * capacity, self.sizes.edits
        )
        self.progress.note(f"p99 {self.results['freshness']['p99_ms']:.0f} ms")
        self.progress.stage(f"search: {self.sizes.clients} concurrent clients for {self.sizes.search_s:.0f} s")
        queries = [chat.text for chat in self.chats]
        self.results["search"] = stages.search_load(worker, queries, self.sizes.clients, self.sizes.search_s)
        self.progress.note(
            f"{self.results['search']['requests_per_s']:.0f} req/s, p99 {self.results['search']['p99_ms']:.1f} ms"
        )

    def shadow_cost(self, settings: Settings, worker: WorkerProcess, capacity: float) -> None:
        """The active path without, with, then again without a candidate shadow-scored at the default share:
        p99 at 50% of the capacity measured without one (the two runs without bracket the one with, so a drift
        of the machine shows), and a burst with it. The candidate is the same model on the other ONNX backend
        (a backend change is a model change), so every install has one."""
        other: Backend = "onnx-int8" if settings.encoder != "onnx-int8" else "onnx"
        rate = 0.5 * capacity
        chats = stages.chats_for(self.chats, int(rate * self.sizes.load_s))
        self.progress.stage(
            f"shadow cost: p99 at {rate:.0f} chats/s without, with and without a {other} candidate at "
            f"HELPSTREAM_SHADOW_SHARE={settings.shadow_share}, and a burst with it"
        )
        before = stages.offered_load(settings, chats, rate)
        candidate = stages.add_candidate(settings, worker, other, len(self.content))
        with_shadow = stages.offered_load(settings, chats, rate)
        burst = stages.capacity(settings, stages.chats_for(self.chats, self.sizes.burst))
        scored = worker.metric("helpstream_model_scored_total", model=candidate)
        shed = worker.metric("helpstream_model_shadow_shed_total", model=candidate)
        stages.retire(settings, candidate)
        after = stages.offered_load(settings, chats, rate)
        without_p99 = (before["p99_ms"] + after["p99_ms"]) / 2
        self.results["shadow"] = {
            "candidate": candidate,
            "share": settings.shadow_share,
            "rate": round(rate, 1),
            "without": {
                "p50_ms": round((before["p50_ms"] + after["p50_ms"]) / 2, 1),
                "p99_ms": round(without_p99, 1),
                "p99_before_ms": before["p99_ms"],
                "p99_after_ms": after["p99_ms"],
                "chats_per_s": capacity,
            },
            "with": {
                "p50_ms": with_shadow["p50_ms"],
                "p99_ms": with_shadow["p99_ms"],
                "chats_per_s": burst["chats_per_s"],
            },
            "p99_ratio": round(with_shadow["p99_ms"] / without_p99, 2),
            "capacity_ratio": round(burst["chats_per_s"] / capacity, 2),
            "shadow_scored": scored,
            "shadow_shed": shed,
        }
        self.progress.note(
            f"p99 without {before['p99_ms']:.0f} and {after['p99_ms']:.0f} ms, with {with_shadow['p99_ms']:.0f} ms "
            f"({self.results['shadow']['p99_ratio']:.2f}x); "
            f"capacity {capacity:.0f} → {burst['chats_per_s']:.0f} chats/s"
        )

    def recovery(self, bootstrap: str, redis_url: str, vectors: int) -> None:
        backend: Backend = "onnx-int8"
        self.progress.stage(f"recovery: a worker ({backend}) restarted over {vectors:,} content vectors")
        settings = self.worker_settings(bootstrap, redis_url, backend)
        asyncio.run(ensure_topics(KafkaConnection.of(settings), topic_specs(settings)))
        model = resolve(settings.model)
        stages.write_synthetic_table(settings, model_id(model, backend), model.dimension, vectors)
        started = time.monotonic()
        worker = WorkerProcess(settings, self.out / f"recovery-{vectors}.log").start()
        try:
            ready_s = worker.wait_ready(300)
            health = worker.health()[1]
            self.results["recovery"][f"{vectors // 1000}k"] = {
                "backend": backend,
                "vectors": health["index"]["vectors"],
                "ready_s": round(ready_s, 2),
                "encoder_calls": worker.metric("helpstream_encoder_calls_total"),
                "worker_peak_rss_mb": peak_rss_mb(worker.process.pid if worker.process else None),
            }
        finally:
            worker.stop()
        self.progress.note(f"ready in {ready_s:.1f} s ({time.monotonic() - started:.0f} s with shutdown)")


def run_bench(settings: Settings, *, quick: bool, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    bench = Bench(settings, QUICK if quick else FULL, out)
    print(report.machine(bench.results), flush=True)
    results = bench.run()
    print()
    print(report.machine(results))
    print(report.table(results))
    print()
    print(report.breakdown_table(results))
    written = (
        report.write_json(results, out),
        report.latency_chart(results, out),
        report.breakdown_chart(results, out),
    )
    print(f"\nwrote {', '.join(map(str, written))}")
    return 0
