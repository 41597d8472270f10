"""Prometheus metrics of a worker, each declared once with its help text; served by `GET /metrics`.

Faust's own Prometheus sensor (`faust_*`) counts what Faust already measures: messages received and sent per
topic, commit and send latency, rebalances, table operations. The `helpstream_*` metrics below count what only
helpstream knows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.engine.recommendation_store import RecommendationStore
from streams.engine.service import EmbeddingService

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_LATENCY_MS_BUCKETS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


@dataclass(frozen=True)
class _Reading:
    name: str
    help: str
    read: Callable[[], float]


class _CounterReadings(Collector):
    """Counters owned by other objects (encoder, index, cache), read at scrape time."""

    def __init__(self, readings: list[_Reading]) -> None:
        self._readings = readings

    def collect(self) -> Iterator[Metric]:
        for reading in self._readings:
            yield CounterMetricFamily(reading.name, reading.help, value=reading.read())


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_handled = Counter(
            "helpstream_events_handled",
            "consumed events by outcome: recommended, indexed, unchanged (version already held) or dead_lettered",
            ["topic", "outcome"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "helpstream_encode_batch_size", "texts per encoder call", buckets=_BATCH_BUCKETS, registry=self.registry
        )
        self.encode_seconds = Histogram(
            "helpstream_encode_seconds", "time of one encoder call", buckets=_SECONDS_BUCKETS, registry=self.registry
        )
        self.recommendation_latency_ms = Histogram(
            "helpstream_recommendation_latency_ms",
            "publish time minus the chat's created_at",
            buckets=_LATENCY_MS_BUCKETS,
            registry=self.registry,
        )
        self.search_seconds = Histogram(
            "helpstream_search_seconds", "time to answer GET /search", buckets=_SECONDS_BUCKETS, registry=self.registry
        )
        self.feedback = Counter(
            "helpstream_feedback",
            "agents' feedback on recommendations from the console, by action and rank (1 = the top one)",
            ["action", "rank"],
            registry=self.registry,
        )
        self.index_items = Gauge(
            "helpstream_index_items", "content items in this worker's index", registry=self.registry
        )
        self.index_vectors = Gauge(
            "helpstream_index_vectors",
            "vectors in this worker's index (an item has one per text)",
            registry=self.registry,
        )

    # The methods below are what the agents need (`agents.ports.AgentMetrics`).
    def handled(self, topic: str, outcome: str, count: int = 1) -> None:
        if count:
            self.events_handled.labels(topic, outcome).inc(count)

    def recommended(self, latency_ms: float) -> None:
        self.recommendation_latency_ms.observe(latency_ms)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.encode_seconds.observe(seconds)

    def watch(self, engine: EmbeddingService, store: RecommendationStore) -> None:
        """Read the engine's and the store's own counters at scrape time."""
        self.index_items.set_function(lambda: len(engine.index))
        self.index_vectors.set_function(lambda: engine.index.vectors.vector_count)
        self.registry.register(
            _CounterReadings(
                [
                    _Reading(
                        "helpstream_index_rows_applied",
                        "content-vectors table rows applied to the index",
                        lambda: engine.index.applied,
                    ),
                    _Reading(
                        "helpstream_encoder_calls",
                        "model calls",
                        lambda: engine.encoder.calls if engine.model_loaded else 0,
                    ),
                    _Reading(
                        "helpstream_encoded_sentences",
                        "texts encoded by the model",
                        lambda: engine.encoder.sentences if engine.model_loaded else 0,
                    ),
                    _Reading(
                        "helpstream_embedding_cache_hits",
                        "content texts whose vector came from the embedding cache",
                        lambda: engine.cache_counts()[0],
                    ),
                    _Reading(
                        "helpstream_redis_errors",
                        "Redis calls that failed or timed out (the pipeline goes on without them)",
                        lambda: engine.cache_errors() + store.failures,
                    ),
                    _Reading(
                        "helpstream_embedding_cache_misses",
                        "content texts that had to be encoded",
                        lambda: engine.cache_counts()[1],
                    ),
                ]
            )
        )

    def faust_sensor(self, app: faust.App) -> None:
        """Faust's own Prometheus sensor, reporting into this registry as `faust_*`."""
        app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(self.registry, "faust"))

    def render(self) -> bytes:
        return generate_latest(self.registry)
