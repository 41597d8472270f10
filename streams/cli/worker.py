"""`helpstream worker`: create the topics if missing, then run a worker on the configured broker and Redis."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from streams.settings import Settings


def add_parser(commands: Any) -> None:
    commands.add_parser("worker", help="run a worker against the configured broker and Redis")


def require_broker(settings: Settings) -> str:
    if not settings.broker:
        raise ConnectionError("no broker configured: set HELPSTREAM_BROKER=host:port (or run `helpstream demo`)")
    return settings.broker


def run(args: argparse.Namespace, settings: Settings) -> int:
    from faust.worker import Worker

    from streams.app import create_app
    from streams.topology.admin import ensure_topics
    from streams.topology.topics import topic_specs

    asyncio.run(ensure_topics(require_broker(settings), topic_specs(settings)))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    built = create_app(settings)
    Worker(built.app, loglevel=settings.log_level, redirect_stdouts=False).execute_from_commandline()
    return 0
