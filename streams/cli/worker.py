"""`helpstream worker`: check Kafka and Redis, create the topics if missing, then run a worker.

The checks run before the model loads, so a wrong password or an untrusted certificate stops the worker at once
with one line and exit code 1; a worker that crashes later exits non-zero too, for its supervisor to restart it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from streams.settings import Settings

logger = logging.getLogger(__name__)


def add_parser(commands: Any) -> None:
    commands.add_parser("worker", help="run a worker against the configured broker and Redis")


def require_broker(settings: Settings) -> str:
    if not settings.broker:
        raise ConnectionError("no broker configured: set HELPSTREAM_BROKER=host:port (or run `helpstream demo`)")
    return settings.broker


async def preflight(settings: Settings) -> None:
    """Connect to Kafka (creating the topics) and Redis once, or raise `ConnectionError` saying why."""
    from index.kv import connect
    from streams.clients.kafka import KafkaConnection
    from streams.topology.admin import ensure_topics
    from streams.topology.topics import topic_specs

    await ensure_topics(KafkaConnection.of(settings, require_broker(settings)), topic_specs(settings))
    ca_file = str(settings.redis_ca_file) if settings.redis_ca_file else None
    kv = await connect(settings.redis_url, required=settings.require_services, ca_file=ca_file)
    await kv.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    from faust.worker import Worker

    from index.memory import limit_heaps
    from streams.app import create_app

    limit_heaps(2)
    for caution in settings.cautions():
        logger.warning("%s", caution)
    asyncio.run(preflight(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    built = create_app(settings)
    Worker(built.app, loglevel=settings.log_level, redirect_stdouts=False).execute_from_commandline()
    return 0
