"""`helpstream publish`: produce contract events — a CMS export (the cron reconcile) or chats from a file."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from streams.cli.worker import require_broker
from streams.settings import Settings


def add_parser(commands: Any) -> None:
    publish = commands.add_parser("publish", help="produce contract events")
    what = publish.add_subparsers(dest="what", required=True)
    content = what.add_parser("content", help="CMS export as JSONL content.updated events")
    source = content.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path)
    source.add_argument("--demo", action="store_true", help="the bundled demo content")
    chats = what.add_parser("chats", help="chat.started events from a CSV (text,category) or JSONL file")
    chats.add_argument("file", type=Path)
    chats.add_argument("--rate", type=float, default=None, help="chats per second (default: as fast as possible)")
    chats.add_argument("--limit", type=int, default=None)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.clients import publish
    from streams.clients.kafka import KafkaConnection
    from streams.demo.datasets import demo_content

    kafka = KafkaConnection.of(settings, require_broker(settings))
    if args.what == "content":
        items = publish.read_content(demo_content() if args.demo else args.file)
        asyncio.run(publish.publish_content(kafka, settings.topic_content, items))
        print(f"published {len(items)} content.updated events to {settings.topic_content}")
    else:
        chats = publish.read_chats(args.file)[: args.limit]
        asyncio.run(publish.publish_chats(kafka, settings.topic_chat, chats, rate=args.rate))
        print(f"published {len(chats)} chat.started events to {settings.topic_chat}")
    return 0
