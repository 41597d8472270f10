"""Builds the Faust app from the settings: topics, the content-vectors table, the runtime and web views.

Agents live in `agents/` and are found by autodiscovery when a worker starts.
"""

from __future__ import annotations

import faust

from streams.metrics import Metrics
from streams.runtime import Runtime
from streams.settings import Settings, get_settings
from streams.tables import content_vectors_table
from streams.topics import declare_topics
from streams.web import register_views


def create_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.broker.split(",") if server] or "kafka://localhost:9092",
        store="memory://",
        autodiscover=["agents"],
        datadir=str(settings.data_dir / f"worker-{settings.web_port}"),
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        # Fast group joins and restarts on Tansu and Apache Kafka alike (6 s is Kafka's minimum session).
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=20,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_replication_factor=1,
        topic_partitions=settings.chat_partitions,
        stream_wait_empty=False,
        table_standby_replicas=0,
    )


settings = get_settings()
metrics = Metrics()
runtime = Runtime(settings, metrics)
app = create_app(settings)
topics = declare_topics(app, settings)
content_vectors = content_vectors_table(app, settings, runtime.follow)
register_views(app, settings, runtime, metrics)
metrics.read_from(runtime.stats)


@app.task
async def connect_services() -> None:
    """Connect Redis at start, so `/healthz` and the first event do not pay for it."""
    await runtime.kv()
