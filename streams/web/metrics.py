"""Prometheus metrics of a worker, each declared once with its help text; served by `GET /metrics`.

Faust's own Prometheus sensor (`faust_*`) counts what Faust already measures: messages received and sent per
topic, commit and send latency, rebalances, table operations. The `helpstream_*` metrics below count what only
helpstream knows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from schemas import ChatTimings, SearchTimings
from streams.engine.figures import model_figures
from streams.engine.recommendation_store import RecommendationStore
from streams.engine.service import EmbeddingService
from streams.engine.tallies import Tallies
from streams.registry.figures import quantile

logger = logging.getLogger(__name__)

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_LATENCY_MS_BUCKETS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_STAGE_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)


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


class _RefusedRecords(Collector):
    """Registry records this worker did not follow, by why (`unsigned`, `gates`, `unreadable`)."""

    def __init__(self, refused: Callable[[], Mapping[str, int]]) -> None:
        self._refused = refused

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "helpstream_registry_refused", "registry records not followed, by why", labels=["why"]
        )
        for why, count in sorted(self._refused().items()):
            family.add_metric([why], count)
        yield family


class ReadingConsumer(Protocol):
    """What the consumer readings need of the worker's consumer (`streams.consumer.SafeCommitConsumer`)."""

    rereads: int

    def lags(self) -> dict[TP, int]: ...


class _ConsumerReadings(Collector):
    """Per assigned partition, how far this worker's reading trails the partition's end; and how often the stuck-
    event watchdog read a partition again (expected 0: each firing is a delayed chat)."""

    def __init__(self, consumer: Callable[[], ReadingConsumer | None]) -> None:
        self._consumer = consumer

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "helpstream_consumer_lag",
            "records past the offset the group commits next, per assigned stream partition",
            labels=["topic", "partition"],
        )
        rereads = CounterMetricFamily(
            "helpstream_partitions_read_again", "partitions read again by the watchdog for a stuck event"
        )
        consumer = self._consumer()
        lags: dict[TP, int] = {}
        rereads_so_far = 0
        if consumer is not None:
            try:
                lags, rereads_so_far = consumer.lags(), consumer.rereads
            except Exception:  # starting or stopping: nothing to report yet
                logger.debug("no consumer readings", exc_info=True)
        for tp, behind in sorted(lags.items()):
            lag.add_metric([tp.topic, str(tp.partition)], behind)
        rereads.add_metric([], rereads_so_far)
        yield lag
        yield rereads


class _ModelReadings(Collector):
    """Per model (label `model`): this worker's index coverage, encoder counters and shadow figures."""

    def __init__(self, engine: EmbeddingService, tallies: Tallies) -> None:
        self._engine = engine
        self._tallies = tallies

    def collect(self) -> Iterator[Metric]:
        models = self._engine.models
        figures = model_figures(models, self._tallies)
        gauges = {
            "items": ("helpstream_model_items", "content items in the model's index on this worker"),
            "table_items": ("helpstream_model_table_items", "live content items of the content table"),
            "active": ("helpstream_model_active", "1 for the model that answers chats and searches"),
            "top1": ("helpstream_model_top1_agreement", "share of shadow-scored chats with the active top-1"),
            "top3": ("helpstream_model_top3_overlap", "mean top-3 overlap with the active model"),
            "chat_p50": ("helpstream_model_chat_p50_ms", "chat latency p50 (a candidate's: estimated)"),
            "chat_p99": ("helpstream_model_chat_p99_ms", "chat latency p99 (a candidate's: estimated)"),
            "encode_p99": ("helpstream_model_encode_p99_ms", "model calls of a chat batch, p99"),
            "mrr": ("helpstream_model_feedback_mrr", "mean reciprocal rank of the responses agents used"),
            "top1_use": ("helpstream_model_feedback_top1", "share of used responses this model ranked first"),
        }
        families = {key: GaugeMetricFamily(name, text, labels=["model"]) for key, (name, text) in gauges.items()}
        counters = {
            "scored": CounterMetricFamily(
                "helpstream_model_scored", "chats answered or shadow-scored", labels=["model"]
            ),
            "shed": CounterMetricFamily("helpstream_model_shadow_shed", "chats shed from the shadow", labels=["model"]),
            "feedback": CounterMetricFamily("helpstream_model_feedback", "used responses counted", labels=["model"]),
            "sentences": CounterMetricFamily("helpstream_model_encoded_sentences", "texts encoded", labels=["model"]),
            "content": CounterMetricFamily(
                "helpstream_model_content_encoded", "content texts encoded (cache misses)", labels=["model"]
            ),
            "interleaved": CounterMetricFamily(
                "helpstream_model_interleaved", "chats shown interleaved with this candidate", labels=["model"]
            ),
            "votes": CounterMetricFamily(
                "helpstream_model_interleave_votes",
                "used responses on interleaved chats, by the model that contributed them (none: no vote)",
                labels=["model", "for"],
            ),
        }
        for model_id, f in figures.items():
            values: dict[str, float | None] = {
                "items": f.items,
                "table_items": f.table_items,
                "active": float(model_id == models.active_id),
                "top1": f.top1_equal / f.scored if f.scored and model_id != models.active_id else None,
                "top3": f.top3_overlap / f.scored if f.scored and model_id != models.active_id else None,
                "chat_p50": quantile(f.chat_ms.counts, 0.5),
                "chat_p99": quantile(f.chat_ms.counts, 0.99),
                "encode_p99": quantile(f.encode_ms.counts, 0.99),
                "mrr": f.feedback_rr / f.feedback if f.feedback else None,
                "top1_use": f.feedback_top1 / f.feedback if f.feedback else None,
            }
            for key, value in values.items():
                if value is not None:
                    families[key].add_metric([model_id], value)
            serving = models.serving(model_id)
            counters["scored"].add_metric([model_id], f.scored)
            counters["shed"].add_metric([model_id], f.shed)
            counters["feedback"].add_metric([model_id], f.feedback)
            if f.interleaved or f.interleave_wins or f.interleave_losses or f.interleave_no_vote:
                counters["interleaved"].add_metric([model_id], f.interleaved)
                counters["votes"].add_metric([model_id, "candidate"], f.interleave_wins)
                counters["votes"].add_metric([model_id, "active"], f.interleave_losses)
                counters["votes"].add_metric([model_id, "none"], f.interleave_no_vote)
            counters["sentences"].add_metric([model_id], 0 if serving is None else serving.encoder.sentences)
            counters["content"].add_metric([model_id], 0 if serving is None else serving.embedder.misses)
        yield from families.values()
        yield from counters.values()


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
            "the recommendation built minus the chat's created_at",
            buckets=_LATENCY_MS_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "helpstream_stage_seconds",
            "time of one answer in each stage of its pattern (chat: broker, queue, batch_wait, encode, search, build,"
            " publish, and loop_lag, which overlaps them; search: batch_wait, encode, search, build), by model",
            ["pattern", "stage", "model"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self._stages: dict[tuple[str, str, str], Any] = {}
        self.loop_lag_seconds = Histogram(
            "helpstream_loop_lag_seconds",
            "how late the event loop ran a 10 ms timer",
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.search_seconds = Histogram(
            "helpstream_search_seconds", "time to answer GET /search", buckets=_SECONDS_BUCKETS, registry=self.registry
        )
        self.search_refused = Counter(
            "helpstream_search_refused",
            "public searches answered at once without a search: rate (429), busy or timeout (503)",
            ["reason"],
            registry=self.registry,
        )
        self.feedback_refused = Counter(
            "helpstream_feedback_refused",
            "console feedback refused: a chat not shown to that agent, or a second vote on one chat",
            ["reason"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "helpstream_feedback",
            "agents' feedback from the console, by action and rank (1 = the top one; search: a miss, found by search)",
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

    def chat_stages(self, model_id: str, timings: ChatTimings, publish_s: float) -> None:
        self._observe_stages("chat", model_id, timings)
        self._stage("chat", "publish_ms", model_id).observe(publish_s)

    def search_stages(self, model_id: str, timings: SearchTimings) -> None:
        self._observe_stages("search", model_id, timings)

    def _observe_stages(self, pattern: str, model_id: str, timings: ChatTimings | SearchTimings) -> None:
        for field, ms in timings:
            self._stage(pattern, field, model_id).observe(ms / 1000)

    def _stage(self, pattern: str, field: str, model_id: str) -> Any:
        """The histogram child of one stage, looked up once (`labels` is the costly part of an observation)."""
        key = (pattern, field, model_id)
        child = self._stages.get(key)
        if child is None:
            child = self._stages[key] = self.stage_seconds.labels(pattern, field.removesuffix("_ms"), model_id)
        return child

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.encode_seconds.observe(seconds)

    def watch_consumer(self, consumer: Callable[[], ReadingConsumer | None]) -> None:
        self.registry.register(_ConsumerReadings(consumer))

    def watch_registry(self, refused: Callable[[], Mapping[str, int]]) -> None:
        self.registry.register(_RefusedRecords(refused))

    def watch(self, engine: EmbeddingService, store: RecommendationStore, tallies: Tallies) -> None:
        """Read the engine's, the store's and the tallies' own counters at scrape time (the index and encoder
        ones are the active model's; `helpstream_model_*` has every model's)."""

        def active() -> Any:
            models = engine.models
            return None if models.active_id is None else models.serving(models.active_id)

        self.index_items.set_function(lambda: 0 if (a := active()) is None else len(a.index))
        self.index_vectors.set_function(lambda: 0 if (a := active()) is None else a.index.vectors.vector_count)
        self.registry.register(_ModelReadings(engine, tallies))
        self.registry.register(
            _CounterReadings(
                [
                    _Reading(
                        "helpstream_index_rows_applied",
                        "content-vectors table rows applied to the index",
                        lambda: 0 if (a := active()) is None else a.index.applied,
                    ),
                    _Reading(
                        "helpstream_encoder_calls",
                        "model calls",
                        lambda: 0 if (a := active()) is None else a.encoder.calls,
                    ),
                    _Reading(
                        "helpstream_encoded_sentences",
                        "texts encoded by the model",
                        lambda: 0 if (a := active()) is None else a.encoder.sentences,
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
