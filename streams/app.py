"""`create_app(settings)`: builds one worker — the Faust app, its topics and table, the embedding service,
the agents, the web views and metrics — from one settings object. Nothing is built at import time."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from agents.chat import ChatHandler, register_chat_agent
from agents.content import ContentHandler, register_content_agent
from agents.dead_letters import DeadLetters
from streams.clients.kafka import KafkaConnection
from streams.consumer import App
from streams.engine.recommendation_store import RecommendationStore
from streams.engine.service import EmbeddingService
from streams.settings import Settings
from streams.topology.table import ContentVectorsTable, content_vectors_table
from streams.topology.topics import Topics, declare_topics
from streams.web.console import ConsoleFeed
from streams.web.metrics import Metrics
from streams.web.pages import register_pages
from streams.web.views import register_views


@dataclass(frozen=True)
class Worker:
    """What `create_app` built; `app` runs it (the engine is a dependency of the app: it starts first)."""

    app: faust.App
    engine: EmbeddingService
    topics: Topics
    content_vectors: ContentVectorsTable
    metrics: Metrics
    console: ConsoleFeed


def faust_app(settings: Settings) -> faust.App:
    if not settings.broker:
        raise ValueError("a worker needs HELPSTREAM_BROKER (`helpstream demo` starts a broker and sets it)")
    app = App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.broker.split(",")],
        store="memory://",
        autodiscover=False,
        datadir=str(settings.data_dir / f"worker-{settings.web_port}"),
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        # Fast group joins and restarts on Tansu and Apache Kafka alike (6 s is Kafka's minimum session).
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=20,
        broker_credentials=KafkaConnection.of(settings).faust_credentials(),
        # Commit acked offsets often: after a crash, at most this much is handled twice.
        broker_commit_interval=settings.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_partitions=settings.chat_partitions,
        stream_wait_empty=False,
        table_standby_replicas=0,
    )
    app.fetch_wait_ms = settings.fetch_wait_ms
    return app


def create_app(settings: Settings) -> Worker:
    app = faust_app(settings)
    metrics = Metrics()
    metrics.faust_sensor(app)
    engine = EmbeddingService(settings, on_batch=metrics.observe_batch)
    app.add_dependency(engine)
    topics = declare_topics(app, settings)
    content_vectors = content_vectors_table(app, engine.follow)
    store = RecommendationStore(lambda: engine.kv, settings.recommendation_ttl_s)
    metrics.watch(engine, store)
    dead_letters = DeadLetters(topics.dead_letter, metrics)
    within_s = settings.batch_wait_ms / 1000
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
            model_id=engine.index.model_id,
            top_k=settings.top_k,
        ),
        max_batch=settings.batch_max,
        within_s=within_s,
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
            model_id=engine.index.model_id,
        ),
        max_batch=settings.batch_max,
        within_s=within_s,
    )
    register_views(app, settings, engine, store, metrics)
    console = ConsoleFeed(settings, content_vectors.get)
    app.add_dependency(console)
    register_pages(app, console, topics.feedback, metrics)
    return Worker(app, engine, topics, content_vectors, metrics, console)
