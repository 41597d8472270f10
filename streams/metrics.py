"""Prometheus metrics of a worker, served as text by `GET /metrics`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_LATENCY_MS_BUCKETS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


class _Gauges(Collector):
    """Reads counters owned by other objects (encoder, index, cache) at scrape time."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        values = self._read()
        for name, value in values.items():
            if name.endswith("_total"):
                yield CounterMetricFamily(f"helpstream_{name[: -len('_total')]}", name, value=value)
            else:
                yield GaugeMetricFamily(f"helpstream_{name}", name, value=value)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_in = Counter("helpstream_events_in", "events consumed", ["topic"], registry=self.registry)
        self.events_out = Counter("helpstream_events_out", "events produced", ["topic"], registry=self.registry)
        self.dead_letters = Counter(
            "helpstream_dead_letters",
            "malformed events sent to the dead-letter topic",
            ["topic"],
            registry=self.registry,
        )
        self.stale_content = Counter(
            "helpstream_content_unchanged",
            "content events skipped because the index already holds that version or a newer one",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "helpstream_encode_batch_size",
            "texts per encoder call",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.encode_seconds = Histogram(
            "helpstream_encode_seconds",
            "time of one encoder call",
            buckets=_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.recommendation_latency_ms = Histogram(
            "helpstream_recommendation_latency_ms",
            "publish time minus the chat's created_at",
            buckets=_LATENCY_MS_BUCKETS,
            registry=self.registry,
        )
        self.search_seconds = Histogram(
            "helpstream_search_seconds",
            "time to answer GET /search",
            buckets=_SECONDS_BUCKETS,
            registry=self.registry,
        )

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.encode_seconds.observe(seconds)

    def read_from(self, read: Callable[[], dict[str, float]]) -> None:
        self.registry.register(_Gauges(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)
