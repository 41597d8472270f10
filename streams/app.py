"""`create_app(settings)`: builds one worker — the Faust app, its topics and table, the embedding service,
the agents, the web views and metrics — from one settings object. Nothing is built at import time."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import faust

from agents.chat import ChatHandler, register_chat_agent
from agents.content import ContentHandler
from agents.content_queue import register_content_agent
from agents.dead_letters import DeadLetters
from agents.delivery import windowed
from agents.feedback import FeedbackHandler, register_feedback_agent
from agents.masking import Masker
from agents.usage import UsageJoin
from schemas.registry import WorkerFigures
from streams.clients.kafka import KafkaConnection
from streams.consumer import App
from streams.engine.backfill import Backfill
from streams.engine.figures import starting_figures, worker_figures
from streams.engine.loop_lag import LoopLag
from streams.engine.models import model_ref
from streams.engine.rankings import RankingStore
from streams.engine.recommendation_store import RecommendationStore
from streams.engine.service import EmbeddingService
from streams.engine.shadow import ShadowScorer
from streams.engine.tallies import Tallies
from streams.registry.channel import ControlChannel, ControlState
from streams.settings import Settings
from streams.topic import Topic
from streams.topology.table import ContentVectorsTable, content_vectors_table
from streams.topology.topics import Topics, declare_topics
from streams.web.ballot import Ballot
from streams.web.console import ConsoleFeed
from streams.web.metrics import Metrics
from streams.web.pages import Pages
from streams.web.routes import internal_app, public_app, sign_in
from streams.web.server import WebServer
from streams.web.views import Views


@dataclass(frozen=True)
class Worker:
    """What `create_app` built; `app` runs it (the control channel, then the engine, are dependencies of the app:
    they start first, so the registry is read and its active model loaded before the worker joins the group)."""

    app: faust.App
    channel: ControlChannel
    engine: EmbeddingService
    shadow: ShadowScorer
    backfill: Backfill
    topics: Topics
    content_vectors: ContentVectorsTable
    metrics: Metrics
    console: ConsoleFeed


def faust_app(settings: Settings) -> App:
    if not settings.broker:
        raise ValueError("a worker needs HELPSTREAM_BROKER (`helpstream demo` starts a broker and sets it)")
    app = App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.broker.split(",")],
        store="memory://",
        autodiscover=False,
        datadir=str(settings.data_dir / f"worker-{settings.web_port}"),
        # helpstream serves its own two listeners (`streams.web.server`): Faust's routes (`/`, `/table/…`) are off.
        web_enabled=False,
        # Fast group joins and restarts on Tansu and Apache Kafka alike (6 s is Kafka's minimum session).
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=20,
        broker_credentials=KafkaConnection.of(settings).faust_credentials(),
        # Commit acked offsets often: after a crash, at most this much is handled twice.
        broker_commit_interval=settings.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Faust waits 20 minutes for a produce answer; a leader that was paused and lost its leadership holds a
        # request that long. Kafka's own producers give up after 30 s, and a batch that fails is sent again.
        producer_request_timeout=30,
        topic_partitions=settings.chat_partitions,
        topic_replication_factor=settings.replication_factor,
        stream_wait_empty=False,
        table_standby_replicas=0,
        Topic=Topic,
    )
    app.fetch_wait_ms = settings.fetch_wait_ms
    app.producer_idempotence = settings.producer_idempotence
    return app


def worker_id(settings: Settings) -> str:
    return f"{socket.gethostname()}:{settings.web_port}"


def _owns(app: faust.App, topic: str) -> bool:
    """Whether this worker is assigned a partition of `topic` now (its content agent runs here)."""
    try:
        return any(tp.topic == topic for tp in app.consumer.assignment())
    except Exception:
        return False


def _recovered(app: faust.App) -> bool:
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    return bool(recovery.completed.is_set() and not recovery.in_recovery)


def create_app(settings: Settings) -> Worker:
    app = faust_app(settings)
    metrics = Metrics()
    metrics.faust_sensor(app)
    loop_lag = LoopLag(observe=metrics.loop_lag_seconds.observe)
    app.loop_lag = loop_lag  # read by the consumer, which stamps each event with it
    app.add_dependency(loop_lag)
    channel = ControlChannel(
        KafkaConnection.of(settings),
        ControlState.of(settings),
        worker_id(settings),
        lambda: model_ref(settings.model, settings.encoder),
    )
    engine = EmbeddingService(settings, channel, on_batch=metrics.observe_batch)
    topics = declare_topics(app, settings)
    content_vectors = content_vectors_table(app, engine.follow)
    engine.models.read_table_with(content_vectors.items)
    store = RecommendationStore(lambda: engine.kv, settings.recommendation_ttl_s)
    ballot = Ballot()
    masker = Masker(embed_masked=settings.embed_masked)
    console = ConsoleFeed(settings, content_vectors.get, ballot, masker)
    views = Views(settings, engine, store, metrics, channel, masker, recovered=lambda: _recovered(app))
    issuer, login = sign_in(settings)
    pages = Pages(console, ballot, topics.feedback, metrics, login)
    # The listeners start first, so health and readiness answer (503) while the model loads.
    app.add_dependency(
        WebServer(settings, public_app(views, pages), internal_app(settings, views, pages, issuer, login))
    )
    app.add_dependency(channel)
    app.add_dependency(engine)
    rankings = RankingStore(lambda: engine.kv, store, settings.recommendation_ttl_s)
    tallies = Tallies()
    channel.on_read(tallies.resume)
    channel.on_registry(tallies.follow)
    shadow = ShadowScorer(engine.models, rankings, tallies, share=settings.shadow_share, top_k=settings.top_k)
    app.add_dependency(shadow)
    backfill = Backfill(
        engine.models,
        content_vectors,
        content_vectors.items,
        owns_content=lambda: _owns(app, settings.topic_content),
        registry=lambda: channel.registry,
    )
    app.add_dependency(backfill)

    def figures() -> WorkerFigures | None:
        if engine.ready:
            return worker_figures(
                channel.worker_id,
                engine.models,
                tallies,
                owns_content=_owns(app, settings.topic_content),
                interleave_share=settings.interleave_share,
            )
        if engine.should_stop:  # the report made while its models still answered stands
            return None
        return starting_figures(
            channel.worker_id, channel.registry, tallies, interleave_share=settings.interleave_share
        )

    channel.publish_figures_with(figures)
    metrics.watch(engine, store, tallies)
    metrics.watch_registry(lambda: channel.control.refused)
    metrics.watch_consumer(app.consumer_if_made)
    dead_letters = DeadLetters(topics.dead_letter, metrics)
    # An event goes to its agent at once while the model is idle, else after up to the batch wait for more.
    take = windowed(settings.batch_wait_ms / 1000, lambda: engine.models.model_busy)
    register_chat_agent(
        app,
        topics.chat,
        ChatHandler(
            topic=settings.topic_chat,
            searcher=engine,
            recommendations=topics.recommendations,
            dead_letters=dead_letters,
            store=store,
            metrics=metrics,
            shadow=shadow,
            masker=masker,
            top_k=settings.top_k,
            interleave_share=settings.interleave_share,
            interleavings=tallies,
            # Half the chat budget: an interleaved chat stays within it when the candidate is slow.
            challenge_timeout_s=settings.budget_chat_p99_ms / 2000,
            timings=settings.recommendation_timings,
            loop_lag=lambda: loop_lag.total_s,
        ),
        max_batch=settings.batch_max,
        take=take,
        in_flight=2 * engine.parallel,
    )
    register_content_agent(
        app,
        topics.content,
        ContentHandler(
            topic=settings.topic_content,
            embedder=engine,
            rows=content_vectors,
            dead_letters=dead_letters,
            metrics=metrics,
        ),
        max_batch=settings.batch_max,
        take=take,
        part_texts=settings.content_part_texts,
        backlog_texts=settings.content_backlog_texts,
    )
    register_feedback_agent(
        app,
        topics.feedback,
        FeedbackHandler(
            rankings=rankings, tally=tallies, dead_letters=dead_letters, usage=(UsageJoin(store), topics.usage)
        ),
        max_batch=settings.batch_max,
        take=take,
    )
    app.add_dependency(console)
    return Worker(app, channel, engine, shadow, backfill, topics, content_vectors, metrics, console)
