"""The soak: a worker on the three-broker cluster under chats, searches, CMS edits, agents' feedback and a model
added, promoted and rolled back, with each process's resources and the service's state sampled at a fixed interval.
It fails when a judged series grows beyond its noise: a fitted slope whose 95% interval lies above zero and that
adds more over the measured window than twice the residuals' spread and than the series' stated tolerance (a
value read in steps, an RSS or a count, can have no spread at all).

CI runs a few minutes of it to keep the harness working; `make soak` runs the hour (`--soak-minutes`,
`--soak-warmup`, `--soak-interval`, `--soak-out` for the table and the PNG). The model change happens in the
warm-up, which the slopes leave out: a second model's cache and index are a step, not a leak.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis

from schemas import RecommendationFeedback, encode
from schemas.recommendation import Recommendation
from streams.clients.publish import read_chats
from streams.demo.datasets import demo_chats
from streams.local.kafka_cluster import KafkaCluster
from streams.local.redis_server import RunningRedis
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from tests.fixtures import INDEXED_S, READY_S, Workers, isolated_settings
from tests.integration.clients import index_holds, now, produce, produce_json, publish_demo_content, search
from tests.reliability.harness import Outcomes, Traffic, helpstream, report
from tests.reliability.soak import TABLE_HEAD, Sampler, Series, open_files, plot, rss_mb, trend
from tests.services import wait_until

TEXTS = 300  # distinct chat texts: the embedding cache fills within the warm-up, so its keys are flat after it


def test_an_hour_of_everything_grows_nothing_beyond_its_noise(
    cluster: KafkaCluster,
    own_redis: RunningRedis,
    data_dir: Path,
    workers: Workers,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    figures: list[tuple[str, str]],
) -> None:
    minutes = float(request.config.getoption("--soak-minutes"))
    warmup = float(request.config.getoption("--soak-warmup"))
    interval = float(request.config.getoption("--soak-interval"))
    rate = float(request.config.getoption("--soak-rate"))
    out = Path(request.config.getoption("--soak-out") or tmp_path)
    settings = isolated_settings(
        cluster.bootstrap,
        own_redis.url,
        data_dir,
        replication_factor=3,
        min_insync_replicas=2,
        producer_idempotence=True,
        # Recommendations and rankings expire within the warm-up, so their keys level off in it.
        recommendation_ttl_s=max(20, int(warmup * 30)),
    )
    items = int(request.config.getoption("--soak-items"))
    worker = workers.start(settings, "soak")
    worker.wait_ready(READY_S)
    publish_demo_content(settings, items)
    wait_until(lambda: index_holds(worker, items), INDEXED_S, 0.5)
    texts = [chat.text for chat in read_chats(demo_chats())][:TEXTS]
    keys = redis.Redis.from_url(own_redis.url)
    sampler = Sampler(samples(worker, cluster, own_redis, keys), interval)
    with Outcomes(settings) as outcomes, contextlib.ExitStack() as running:
        traffic = Traffic(settings, f"soak-{uuid.uuid4().hex[:4]}", rate=rate, text=texts).start()
        load = Load(settings, worker, outcomes, texts).start()
        running.callback(load.stop)  # also when the model cycle fails: its threads must not outlive the test
        sampler.start()
        running.callback(sampler.stop)
        started = time.monotonic()
        cycle = model_cycle(settings)
        warm = max(warmup, (time.monotonic() - started) / 60 + 0.5)
        time.sleep(max(0.0, started + (warm + minutes) * 60 - time.monotonic()))
        sampler.stop()
        load.stop()
        sent = traffic.stop()
        outcomes.wait_settled(sent, 180)
        account = outcomes.account("soak", sent)
    trends = [trend(s, sampler.times, sampler.values[s.name], warm) for s in sampler.series]
    table = "\n".join([TABLE_HEAD, *(t.row() for t in trends)])
    title = f"soak: {minutes:.0f} min after a {warm:.1f} min warm-up, {rate:.0f} chats/s, {items} items, 3 brokers"
    (out / "soak.md").write_text(f"{title}\n\n{table}\n")
    plot(sampler, trends, warm, title, out / "soak.png")
    figures.append(("soak", f"{title}; {account.sent} chats, {account.lost} lost; {load.summary()}; {cycle}"))
    figures.extend((f"soak: {t.name} ({t.unit})", t.row()) for t in trends)
    figures.append(("soak: table and picture", str(out / "soak.md") + ", " + str(out / "soak.png")))
    assert account.lost == 0, account.lost_keys
    assert not load.errors, load.errors[:5]
    assert not [t.name for t in trends if t.judged and t.grows], table
    assert len(sampler.errors) <= len(sampler.times), sampler.errors[:5]


def samples(worker: WorkerProcess, cluster: KafkaCluster, own_redis: RunningRedis, keys: redis.Redis) -> list[Series]:
    assert worker.process is not None
    pid = worker.process.pid
    lag = LoopLagWindow(worker)
    judged = [
        Series("worker RSS", "MB", lambda: rss_mb(pid), tolerance=10),
        Series("worker open files", "files", lambda: open_files(pid), tolerance=2),
        Series("worker event-loop lag", "ms", lag.mean_ms, tolerance=2),
        Series("Redis keys", "keys", lambda: float(keys.dbsize()), tolerance=50),
        Series("Redis RSS", "MB", lambda: rss_mb(own_redis.pid), tolerance=2),
        Series("chat consumer lag", "events", lambda: worker.metric("helpstream_consumer_lag"), tolerance=20),
    ]
    # A JVM's heap grows up to its bound by design: the brokers are shown, not judged.
    brokers = [
        Series(f"broker {n} RSS", "MB", functools.partial(rss_mb, cluster.nodes[n].pid), tolerance=0, judged=False)
        for n in cluster.nodes
    ]
    return judged + brokers


class LoopLagWindow:
    """The worker's mean event-loop lag since the last reading, from its histogram's sum and count."""

    def __init__(self, worker: WorkerProcess) -> None:
        self._worker = worker
        self._last = (0.0, 0.0)

    def mean_ms(self) -> float:
        total = self._worker.metric("helpstream_loop_lag_seconds_sum")
        count = self._worker.metric("helpstream_loop_lag_seconds_count")
        before, self._last = self._last, (total, count)
        return 1000 * (total - before[0]) / max(1.0, count - before[1])


class Load:
    """Searches (2/s), a CMS edit every 15 s (three articles, new versions in turn) and agents' feedback on recent
    recommendations every 10 s, each in its own thread; failures are kept, not raised."""

    def __init__(self, settings: Settings, worker: WorkerProcess, outcomes: Outcomes, texts: list[str]) -> None:
        self._settings, self._worker, self._outcomes, self._texts = settings, worker, outcomes, texts
        self._stop = threading.Event()
        self.errors: list[str] = []
        self.counts = {"searches": 0, "edits": 0, "feedback": 0}
        self._threads = [
            threading.Thread(target=self._every, args=(0.5, self._search), daemon=True),
            threading.Thread(target=self._every, args=(15, self._edit), daemon=True),
            threading.Thread(target=self._every, args=(10, self._feedback), daemon=True),
        ]
        self._texts_cycle = itertools.cycle(texts)
        self._version = 0
        self._seen = 0

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def summary(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())

    def _every(self, interval_s: float, action: object) -> None:
        assert callable(action)
        while not self._stop.wait(interval_s):
            try:
                action()
            except Exception as exc:
                self.errors.append(repr(exc))

    def _search(self) -> None:
        status, _ = search(self._worker, next(self._texts_cycle), k=3)
        if status not in (200, 429):  # 429: the public listener's rate limit, doing its job
            self.errors.append(f"search answered {status}")
        self.counts["searches"] += 1

    def _edit(self) -> None:
        self._version += 1
        n = self._version % 3
        article = {"content_id": f"soak_article_{n}", "kind": "help_article", "op": "upsert",
                   "version": self._version, "title": f"Soak article {n}",
                   # Two bodies in turn: each distinct text stays in the embedding cache (docs/reliability.md).
                   "body": f"Revision {self._version % 2} of a help article that the soak edits again and again.",
                   "example_queries": [], "updated_at": now()}  # fmt: skip
        produce_json(self._settings.broker, self._settings.topic_content, [(f"soak_article_{n}", article)])
        self.counts["edits"] += 1

    def _feedback(self) -> None:
        values = self._outcomes.values()[self._seen :]
        self._seen += len(values)
        events = []
        for _, _, value in values[-20:]:
            rec = Recommendation.model_validate_json(value)
            if rec.items:
                used = {"chat_id": rec.chat_id, "content_id": rec.items[0].content_id, "rank": 1, "action": "used",
                        "at": now()}  # fmt: skip
                used_event = RecommendationFeedback.model_validate(used)
                events.append((rec.chat_id.encode(), encode(used_event)))
        produce(self._settings.broker, self._settings.topic_feedback, events)
        self.counts["feedback"] += len(events)


def model_cycle(settings: Settings) -> str:
    """`model add minilm-l3`, promote (forced: a smaller model may fail the quality gate), rollback, retire; what
    each step took."""
    steps = []
    started = time.monotonic()
    added = helpstream(settings, "model", "add", "minilm-l3")
    assert added.returncode == 0, added.stderr[-2000:]
    candidate = next(m for m in report(settings)["models"] if m["role"] == "candidate")["model_id"]
    steps.append(f"add {time.monotonic() - started:.0f} s")

    def covered() -> bool:
        return bool(next(m for m in report(settings)["models"] if m["model_id"] == candidate)["covered_everywhere"])

    steps.append(f"covered {wait_until(covered, 600, 2):.0f} s")
    wait = ("--wait", "60")
    for command in (("promote", candidate, "--force", "soak", *wait), ("rollback", *wait), ("retire", candidate)):
        began = time.monotonic()
        done = helpstream(settings, "model", *command)
        assert done.returncode == 0, done.stdout + done.stderr
        steps.append(f"{command[0]} {time.monotonic() - began:.0f} s")
    return "model " + ", ".join(steps)
