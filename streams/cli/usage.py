"""`helpstream usage`: the training data agents' usage made, as the usage topic holds it now."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from schemas import encode
from streams.settings import Settings


def add_parser(commands: Any) -> None:
    usage = commands.add_parser("usage", help="the responses agents used, joined with the chats' masked texts")
    usage.add_argument("--out", type=Path, help="write the examples here, one JSON per line (default: a summary only)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.clients.kafka import KafkaConnection
    from streams.clients.usage import read_usage

    found = asyncio.run(read_usage(KafkaConnection.of(settings), settings.topic_usage))
    sources = found.by_source()
    print(
        f"{len(found.examples)} chats with a used response on {settings.topic_usage}: "
        f"{sources['recommended']} recommended, {sources['search']} found by search"
        + (f" ({found.unreadable} unreadable records left out)" if found.unreadable else "")
    )
    ranks = found.by_rank()
    if ranks:
        print("used at rank: " + ", ".join(f"{rank}: {count}" for rank, count in sorted(ranks.items())))
    if args.out is not None:
        with args.out.open("wb") as f:
            for example in found.examples:
                f.write(encode(example) + b"\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
